"""Typed inputs and their validators, as users pass them (`--input k=v`, JSON, forms)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import UsageError
from runner.language.inputs import coerce, nested
from runner.model import Input, Position

POS = Position("f.yml", 1, 1)


def spec(kind: str, **props: Any) -> Input:
    return Input(id="x", type=kind, position=POS, props=props)


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("STRING", 5, "5"),
    ("INT", "42", 42),
    ("INT", 7.0, 7),
    ("FLOAT", "2.5", 2.5),
    ("BOOLEAN", "true", True),
    ("BOOLEAN", "FALSE", False),
    ("BOOL", False, False),
    ("JSON", '{"a": [1, 2]}', {"a": [1, 2]}),
    ("YAML", "a: 1\nb: [x]\n", {"a": 1, "b": ["x"]}),
    ("ARRAY", "[1, 2]", ["1", "2"]),
    ("MULTISELECT", "a,b", ["a", "b"]),
    ("DATETIME", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
    ("DATE", "2024-01-02", "2024-01-02"),
    ("TIME", "03:04:05", "03:04:05"),
    ("DURATION", "PT5M", "PT5M"),
    ("EMAIL", "a@b.example", "a@b.example"),
    ("URI", "https://example.invalid/x", "https://example.invalid/x"),
])
def test_values_are_typed(kind: str, raw: Any, expected: Any) -> None:
    assert coerce(spec(kind), raw) == expected


@pytest.mark.parametrize(("kind", "props", "raw", "message"), [
    ("INT", {}, "4.5", "not an integer"),
    ("INT", {"min": 1, "max": 3}, "9", "above the maximum 3"),
    ("FLOAT", {"min": 0}, "-1", "below the minimum 0"),
    ("BOOLEAN", {}, "maybe", "not a boolean"),
    ("STRING", {"validator": "[a-z]+"}, "abc1", "does not match"),
    ("STRING", {"maxLength": 2}, "abc", "at most 2"),
    ("SELECT", {"values": ["a", "b"]}, "c", "not one of a, b"),
    ("MULTISELECT", {"values": ["a", "b"]}, "a,z", "'z' is not one of"),
    ("DATETIME", {}, "yesterday", "not an ISO-8601 datetime"),
    ("DATE", {"after": "2024-01-01"}, "2023-12-31", "not after"),
    ("DURATION", {"max": "PT1H"}, "PT2H", "longer than PT1H"),
    ("EMAIL", {}, "not-an-email", "not an email"),
    ("JSON", {}, "{broken", r"input 'x' \(JSON\)"),
    ("ARRAY", {"itemType": "INT"}, "[1, \"x\"]", "not an integer"),
])
def test_invalid_values_name_the_input_and_the_reason(kind: str, props: dict[str, Any], raw: str,
                                                      message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        coerce(spec(kind, **props), raw)
    assert "input 'x'" in err.value.message


def test_select_allows_custom_values_when_asked() -> None:
    assert coerce(spec("SELECT", values=["a"], allowCustomValue=True), "z") == "z"


def test_dotted_ids_nest_like_kestra() -> None:
    values = nested({"request.name": "Ada", "request.days": 3, "plain": 1})
    assert values["request"] == {"name": "Ada", "days": 3}
    assert values["request.name"] == "Ada" and values["plain"] == 1


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_int_round_trips_through_text(value: int) -> None:
    assert coerce(spec("INT"), str(value)) == value


@given(st.booleans())
def test_bool_round_trips_through_text(value: bool) -> None:
    assert coerce(spec("BOOLEAN"), str(value).lower()) is value


@given(st.text())
def test_any_text_is_a_string_input_or_a_usage_error(value: str) -> None:
    for kind in ("STRING", "INT", "FLOAT", "BOOLEAN", "JSON", "DATETIME", "DURATION", "ARRAY"):
        with contextlib.suppress(UsageError):
            coerce(spec(kind), value)
