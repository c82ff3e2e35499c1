"""Kestra's regexMatch / regexExtract / regexReplace (Kestra's RegexMatchFilter,
RegexExtractFilter, RegexReplaceFilter), on RE2: linear time whatever the pattern."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.expressions import ExpressionError, Renderer

RENDERER = Renderer()
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


def render(template: str, **context: Any) -> str:
    return RENDERER.render_text(template, context)


@pytest.mark.parametrize(("template", "expected"), [
    # the examples in Kestra's filter sources (their Javadoc "Usage")
    ('{{ "order-12345-done" | regexExtract(regex="\\d+") }}', "12345"),
    ('{{ "order-12345-done" | regexExtract(regex="order-(\\d+)", group=1) }}', "12345"),
    ('{{ "abc-123" | regexMatch(regex="\\d+") }}', "true"),
    ('{{ "hello world" | regexMatch(regex="hello.*") }}', "true"),
    ('{{ "hello world" | regexReplace(regex="world", replacement="java") }}', "hello java"),
    ('{{ "2024-07-09" | regexReplace(regex="(\\d+)-(\\d+)-(\\d+)", replacement="$3/$2/$1") }}',
     "09/07/2024"),
    ('{{ "a-b" | regexReplace(regex="(?P<x>[a-z])", replacement="<${x}>") }}', "<a>-<b>"),
    ('{{ "cost" | regexReplace(regex="cost", replacement="\\$5") }}', "$5"),
    ('{{ "none here" | regexExtract(regex="\\d+") }}', ""),
    ('{{ null | regexMatch(regex="x") }}', "false"),
])
def test_documented_regex_filters(template: str, expected: str) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(("template", "message"), [
    ('{{ "aa" | regexMatch(regex="(a)\\1") }}', "invalid regular expression '\\(a\\)\\\\1'"),
    ('{{ "a" | regexExtract(regex="a", group=2) }}', "group 2 is out of bounds"),
    ('{{ "a" | regexReplace(regex="a", replacement="$2") }}', "no group 2 in the pattern"),
    ('{{ "a" | regexReplace(regex="a") }}', "the argument 'replacement' is required"),
    ('{{ s | regexReplace(regex="", replacement="xxxxxxxxxx") }}', "regexReplace: the result would be"),
])
def test_regex_errors(template: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        render(template, s="a" * 200_000)


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    # (a+)+$ on 'aaa…b' takes exponential time with a backtracking engine; RE2 answers at once
    assert render('{{ s | regexMatch(regex="(a+)+$") }}', s="a" * 100_000 + "b") == "false"
    assert render('{{ s | regexReplace(regex="(x+x+)+y", replacement="") | length }}',
                  s="x" * 50_000) == "50000"


@settings(max_examples=150)
@given(TEXT, TEXT.filter(bool), TEXT)
def test_a_literal_pattern_replaces_like_str_replace(text: str, old: str, new: str) -> None:
    java_new = new.replace("\\", "\\\\").replace("$", "\\$")
    assert render("{{ t | regexReplace(regex=o, replacement=n) }}", t=text, o=re.escape(old),
                  n=java_new) == text.replace(old, new)
    assert render("{{ t | regexMatch(regex=o) }}", t=text, o=re.escape(old)) == str(old in text).lower()


@pytest.mark.parametrize(("template", "expected"), [
    # Java's String.split, which Pebble's split filter calls (its regex is RE2 here)
    ('{{ "a , b,c" | split("\\s*,\\s*") }}', '["a","b","c"]'),
    ('{{ "abc" | split("") }}', '["a","b","c"]'),
    ('{{ "a(,)b" | split("(,)") }}', '["a(",")b"]'),  # groups are not returned
    ('{{ "a,b,," | split(",") }}', '["a","b"]'),
    ('{{ "a,b,," | split(",", -1) }}', '["a","b","",""]'),
    ('{{ ",a" | split(",") }}', '["","a"]'),
    ('{{ "a1b22c" | replace({"[0-9]+": "#"}, regexp=true) }}', "a#b#c"),
])
def test_split_and_replace_follow_java(template: str, expected: str) -> None:
    assert render(template) == expected


@settings(max_examples=150)
@given(st.lists(st.text("abc ", max_size=4), min_size=1, max_size=6))
def test_split_undoes_join(parts: list[str]) -> None:
    joined = ",".join(parts)
    expected = list(parts)
    while expected and expected[-1] == "":
        expected.pop()
    assert render("{{ t | split(',') | toJson }}", t=joined) == render("{{ e | toJson }}", e=expected)
