"""Statement tags, whitespace control, comments, macros and `in`: properties over any
input, and hostile nests of loops and macros ending with a clear error.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from runner.expressions import ExpressionError, Renderer
from runner.expressions.lexer import _END_RAW

RENDERER = Renderer()
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
WHITESPACE = st.text(" \t\n\r", max_size=6)


@settings(max_examples=200)
@given(TEXT)
def test_raw_renders_its_content_as_is(text: str) -> None:
    assume(_END_RAW.search(text) is None and "{% endraw" not in text)
    assert RENDERER.render_text("{% raw %}" + text + "{% endraw %}", {}) == text


@settings(max_examples=200)
@given(TEXT, TEXT.filter(lambda t: "{" not in t and "%" not in t))
def test_comments_render_nothing(comment: str, around: str) -> None:
    assume("#}" not in comment)
    # a text with only `{#…#}` is not a template (shell's `${#x}`): the print makes it one
    assert RENDERER.render_text(around + "{# " + comment + " #}{{ '' }}" + around, {}) == around * 2


@settings(max_examples=100)
@given(WHITESPACE, WHITESPACE)
def test_whitespace_control_trims_both_sides(before: str, after: str) -> None:
    assert RENDERER.render_text(f"A{before}{{{{- 'x' -}}}}{after}B", {}) == "AxB"
    assert RENDERER.render_text(f"A{before}{{%- if true -%}}{after}x{{% endif %}}B", {}) == "AxB"


@settings(max_examples=100)
@given(st.lists(st.integers(-1000, 1000), max_size=8))
def test_for_loop_variables(items: list[int]) -> None:
    template = ("{% for x in xs %}{{ loop.index }}/{{ loop.revindex }}/{{ loop.length }}/"
                "{{ loop.first }}/{{ loop.last }}={{ x }};{% else %}none{% endfor %}")
    expected = "".join(
        f"{i}/{len(items) - 1 - i}/{len(items)}/{str(i == 0).lower()}/{str(i == len(items) - 1).lower()}={x};"
        for i, x in enumerate(items)) or "none"
    assert RENDERER.render_text(template, {"xs": items}) == expected


@settings(max_examples=100)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.integers(), max_size=5))
def test_for_over_a_map_gives_entries(mapping: dict[str, int]) -> None:
    rendered = RENDERER.render_text("{% for e in m %}{{ e.key }}={{ e.value }};{% endfor %}", {"m": mapping})
    assert rendered == "".join(f"{k}={v};" for k, v in mapping.items())


@settings(max_examples=100)
@given(st.integers(-10**6, 10**6))
def test_if_elseif_else_and_set(n: int) -> None:
    template = ("{% set twice = n * 2 %}{% if n < 0 %}neg{% elseif n == 0 %}zero{% else %}pos"
                "{% endif %}:{{ twice }}")
    expected = ("neg" if n < 0 else "zero" if n == 0 else "pos") + f":{2 * n}"
    assert RENDERER.render_text(template, {"n": n}) == expected


@settings(max_examples=100)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20))
def test_a_macro_returns_its_body_for_any_argument(value: str) -> None:
    template = "{% macro wrap(a, b='!') %}[{{ a }}{{ b }}]{% endmacro %}{{ wrap(v) }}{{ wrap(v, b='?') }}"
    assert RENDERER.render_text(template, {"v": value}) == f"[{value}!][{value}?]"


@settings(max_examples=100)
@given(st.integers(-5, 5), st.lists(st.integers(-5, 5), max_size=6))
def test_in_and_not_in_agree_with_membership(item: int, items: list[int]) -> None:
    context = {"x": item, "xs": items}
    assert RENDERER.render_text("{{ x in xs }}|{{ x not in xs }}", context) == \
        f"{str(item in items).lower()}|{str(item not in items).lower()}"


def test_a_hostile_loop_nest_hits_the_work_budget() -> None:
    nest = "{% for a in range(1, 1000) %}{% for b in range(1, 1000) %}{% for c in range(1, 1000) %}" \
           "{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(ExpressionError, match="more than 1000000 loop iterations"):
        Renderer(time_limit=120).render_text(nest, {})  # the budget ends it, not the clock


def test_a_hostile_macro_is_stopped() -> None:
    doubling = ("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                "{{ f(45) }}")
    with pytest.raises(ExpressionError, match=r"more than 1000000 loop iterations|took longer than 1s"):
        Renderer(time_limit=1).render_text(doubling, {})
    with pytest.raises(ExpressionError, match="macros are nested more than 50 levels deep"):
        RENDERER.render_text("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {})


@pytest.mark.parametrize(("template", "message"), [
    ("{% if true %}x", "missing '{% endif %}' (column 15)"),
    ("a\n{% for x in %}{% endfor %}", "unexpected end of expression (line 2, column 13)"),
    ("{% macro m(a b) %}{% endmacro %}", "expected ',' but found 'b' (column 14)"),
    ("{% endmacro %}", "unexpected '{% endmacro %}' (column 4)"),
    ("{{ block('none') }}", "no such block in this template (column 4)"),
    ("{% raw %}x", "unclosed '{% raw %}' (column 1)"),
])
def test_tag_errors_name_the_position(template: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        RENDERER.render_text(template, {})
    assert message in str(caught.value)
