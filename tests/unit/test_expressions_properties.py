"""Properties of the renderer and of the static analysis, on generated input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.expressions import ExpressionError, Renderer, references, syntax_error

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RENDERER = Renderer(time_limit=2.0)

FRAGMENTS = ["{{", "}}", "{%", "%}", "{#", "#}", "-", "'", '"', "\\", "(", ")", "[", "]", "{", "}",
             "|", "?", "??", "???", ":", "~", ",", ".", "..", "=", "==", "+", "*", "/", "%", " ", "\n",
             "x", "inputs", "outputs", "loop", "a", "1", "0", "2.5", "null", "true", "not", "is",
             "defined", "empty", "contains", "and", "or", "if", "elseif", "else", "endif", "for",
             "in", "endfor", "set", "filter", "endfilter", "raw", "endraw", "upper", "date", "range",
             "now()", "length", "jq", "'.a'", "default", "render", "__class__", "_k", "self"]
template_like = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)
any_text = st.one_of(st.text(max_size=80), template_like)
plain_text = st.text(max_size=200).filter(lambda s: "{{" not in s and "{%" not in s)

json_scalars = st.one_of(st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20),
                         st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)
CONTEXT: dict[str, Any] = {"inputs": {"a": 1, "name": "n", "list": [1, 2]}, "outputs": {}, "nothing": None}


@SETTINGS
@given(plain_text)
def test_text_without_delimiters_is_unchanged(text: str) -> None:
    assert RENDERER.render_text(text, CONTEXT) == text


@SETTINGS
@given(any_text)
def test_rendering_raises_only_expression_errors(text: str) -> None:
    try:
        out = RENDERER.render_text(text, CONTEXT)
    except ExpressionError:
        return
    assert isinstance(out, str)


@SETTINGS
@given(any_text)
def test_syntax_error_agrees_with_rendering(text: str) -> None:
    problem = syntax_error(text)
    try:
        RENDERER.render_text(text, CONTEXT)
    except ExpressionError as err:
        if problem is not None:
            assert str(err).startswith("invalid expression")
        return
    assert problem is None


@SETTINGS
@given(any_text)
def test_references_never_raise(text: str) -> None:
    found = references(text)
    assert all(isinstance(path, tuple) and path and all(isinstance(p, str) for p in path)
               for path in found)


@SETTINGS
@given(json_values.filter(lambda v: v is not None), json_values)
def test_null_coalescing_keeps_a_defined_value(x: Any, y: Any) -> None:
    context = {"x": x, "y": y, "nothing": None}
    plain = RENDERER.render_text("{{ x }}", context)
    assert RENDERER.render_text("{{ x ?? y }}", context) == plain
    assert RENDERER.render_text("{{ x ??? y }}", context) == plain
    fallback = RENDERER.render_text("{{ y }}", context)
    assert RENDERER.render_text("{{ missing ?? y }}", context) == fallback
    assert RENDERER.render_text("{{ nothing ?? y }}", context) == fallback
    assert RENDERER.render_text("{{ missing ??? y }}", context) == fallback
    assert RENDERER.render_text("{{ nothing ??? y }}", context) == ""


@SETTINGS
@given(json_values)
def test_values_print_as_compact_json(value: Any) -> None:
    out = RENDERER.render_text("{{ v }}", {"v": value})
    if isinstance(value, dict | list):
        assert json.loads(out) == value
        assert RENDERER.render_text("{{ v | toJson }}", {"v": value}) == out


@SETTINGS
@given(st.text(max_size=60).filter(lambda s: "'" not in s and "\\" not in s))
def test_string_literals_round_trip(literal: str) -> None:
    assert RENDERER.render_text("{{ '" + literal + "' }}", {}) == literal
    assert RENDERER.render_text("{{ '" + literal + "' ~ '' }}", {}) == literal
