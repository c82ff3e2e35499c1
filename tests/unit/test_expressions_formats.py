"""Kestra's data filters and functions: yaml, toIon/fromIon, flatten, uniq, className, in.

Round trips over any JSON-like value: what the `yaml` filter writes, `yaml()` reads
back; what `toIon` writes, `fromIon()` reads back.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.expressions import ExpressionError, Renderer

RENDERER = Renderer()
SCALARS = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=6),
    inner, max_size=4), max_leaves=15)


def render(template: str, **context: Any) -> str:
    return RENDERER.render_text(template, context)


@settings(max_examples=150, deadline=None)
@given(VALUES)
def test_yaml_filter_output_reads_back_with_the_yaml_function(value: Any) -> None:
    expected = render("{{ value | toJson }}", value=value)
    assert render("{{ yaml(value | yaml) | toJson }}", value=value) == expected


@settings(max_examples=150, deadline=None)
@given(VALUES)
def test_to_ion_output_reads_back_with_from_ion(value: Any) -> None:
    expected = render("{{ value | toJson }}", value=value)
    assert render("{{ fromIon(value | toIon) | toJson }}", value=value) == expected


@pytest.mark.parametrize(("template", "expected"), [
    # https://kestra.io/docs/expressions#yaml-filters: Jackson's block style, no '---'
    ("{{ {'a': 1, 'b': [1, {'c': 'x y'}], 'e': {'f': 'true'}, 'h': null} | yaml }}",
     "a: 1\nb:\n- 1\n- c: x y\ne:\n  f: \"true\"\nh: null\n"),
    ("{{ labels | yaml | indent(4) }}", "env: prod\n    team: data\n"),
    ("{{ yaml('') }}", ""),
    ("{{ {'foo': 'bar', 'n': 1, 'f': 1.5, 'l': [true, null]} | toIon }}",
     '{foo:"bar",n:1,f:1.5e0,l:[true,null]}'),
    ("{{ fromIon('$ion_1_0 {name:\"John\", tags:[a, \\'b c\\'], ts:2024-01-01T00:00:00Z, n:12_345, "
     "x:ann::null.int}').tags }}", '["a","b c"]'),
    ("{{ fromIon('{ts:2024-01-01T00:00:00Z}').ts }}", "2024-01-01T00:00:00Z"),
    # Kestra's FlattenFilter: one level; UniqFilter: like distinct, other values as they are
    ("{{ [[1, 2], [3, [4]], 5] | flatten }}", "[1,2,3,[4],5]"),
    ("{{ [1, 1, 'a', 'a'] | uniq }}", '[1,"a"]'),
    ("{{ 'x' | uniq }}", "x"),
    ("{{ 'text' | className }}", "java.lang.String"),
    ("{{ 1 | className }}", "java.lang.Integer"),
    ("{{ 9223372036854775807 | className }}", "java.lang.Long"),
    ("{{ {'a': 1} | className }}", "java.util.LinkedHashMap"),
    # Kestra's InExpression: a key of a map, or every item of a list
    ("{{ 'a' in {'a': 1} }}|{{ [1, 2] in [1, 2, 3] }}|{{ 4 not in [1] }}|{{ 1 in null }}",
     "true|true|true|false"),
])
def test_data_filters(template: str, expected: str) -> None:
    assert render(template, labels={"env": "prod", "team": "data"}) == expected


@pytest.mark.parametrize(("template", "message"), [
    ("{{ 'a' in 'abc' }}", "'in' needs a list or a map"),
    ("{{ yaml('a: [1') }}", "yaml: "),
    ("{{ fromIon('{a 1}') }}", "fromIon: expected ':'"),
    ("{{ fromIon('[1, 2') }}", r"fromIon: '\[' is not closed"),
    ("{{ 'x' | flatten }}", "'flatten' needs a list"),
])
def test_data_filter_errors(template: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        render(template)


def test_yaml_text_keeps_the_loader_limits() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    with pytest.raises(ExpressionError, match="yaml: "):
        render("{{ yaml(text) }}", text=bomb)
