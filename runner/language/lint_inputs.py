"""Semantic checks of a flow's `inputs`: ids, choices, defaults that fit the type and its
validators (part of runner/language/lint.py's checks)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from runner.durations import parse_duration
from runner.errors import UsageError
from runner.language.inputs import coerce
from runner.model import Input, Position
from runner.yamlsource import Path

if TYPE_CHECKING:
    from runner.language.lint import _Findings as Findings


def dynamic(text: str) -> bool:
    """Whether text is an expression (rendered at run time): not checked as a value here."""
    return "{{" in text or "{%" in text


def check_inputs(inputs: list[Any], out: Findings) -> None:
    seen: dict[str, Path] = {}
    for index, item in enumerate(inputs):
        if not isinstance(item, dict):
            continue
        path: Path = ("inputs", index)
        if "id" not in item and "name" not in item:
            out.error(path, "missing-property", "missing required property 'id' in an input")
        elif "name" in item:
            out.warn((*path, "name"), "deprecated-property", "input 'name' is deprecated; use 'id'")
        key = "id" if "id" in item else "name"
        ident = item.get(key)
        if isinstance(ident, str):
            if ident in seen:
                line = out.located.value_at(seen[ident])[0]
                out.error((*path, key), "duplicate-input-id",
                          f"input id '{ident}' is already used at line {line}", value=True)
            else:
                seen[ident] = (*path, key)
        kind = item.get("type")
        _check_validator(item, path, out)
        if isinstance(kind, str):
            _check_input_values(item, kind.upper(), path, out)


def _check_input_values(item: dict[str, Any], kind: str, path: Path, out: Findings) -> None:
    values = item.get("values")
    if kind in ("SELECT", "ENUM", "MULTISELECT") and (values is None or values == []):
        out.error((*path, "type"), "missing-property",
                  f"a {kind} input needs 'values', the list of choices", value=True)
    if "defaults" not in item or item["defaults"] is None:
        return
    default = item["defaults"]
    problem = _default_problem(kind, default, values if isinstance(values, list) else None,
                               item.get("allowCustomValue") is True)
    if problem is None and not (isinstance(default, str) and dynamic(default)):
        problem = _runtime_problem(item, kind, default)
    if problem:
        out.error((*path, "defaults"), "invalid-default",
                  f"defaults {_show(default)} does not fit input type {kind}: {problem}", value=True)


def _check_validator(item: dict[str, Any], path: Path, out: Findings) -> None:
    pattern = item.get("validator")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as err:
            out.error((*path, "validator"), "invalid-value",
                      f"validator '{pattern}' is not a regular expression: {err}", value=True)


def _runtime_problem(item: dict[str, Any], kind: str, default: Any) -> str | None:
    """What the run would say of this default (validator, min/max, after/before…)."""
    known = {"id", "name", "type", "required", "defaults", "description"}
    spec = Input(id=str(item.get("id") or item.get("name")), type=kind, position=Position("", 1, 1),
                 props={k: v for k, v in item.items() if k not in known})
    try:
        coerce(spec, default)
    except UsageError as err:
        return err.message.split("): ", 1)[-1]
    except Exception:  # e.g. a malformed validator, reported on its own
        return None
    return None


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)


_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_TRUE_FALSE = {"true", "false"}


def _default_problem(kind: str, value: Any, choices: list[Any] | None, custom: bool) -> str | None:
    """Why value cannot be the default of an input of this type; None when it fits."""
    if isinstance(value, str) and dynamic(value):
        return None
    scalar = isinstance(value, str | int | float | bool)
    if kind in ("STRING", "SECRET", "EMAIL", "URI", "FILE"):
        return None if scalar else "expected a text value"
    if kind == "INT":
        fits = (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, str) and _INT.match(value) is not None)
        return None if fits else "expected a whole number such as 42"
    if kind == "FLOAT":
        return None if _is_number(value) else "expected a number such as 1.5"
    if kind in ("BOOLEAN", "BOOL"):
        fits = isinstance(value, bool) or (isinstance(value, str) and value.lower() in _TRUE_FALSE)
        return None if fits else "expected true or false"
    if kind in ("DATETIME", "DATE", "TIME", "DURATION"):
        return _temporal_problem(kind, value)
    if kind in ("SELECT", "ENUM"):
        if not scalar:
            return "expected one of the values"
        if choices and not custom and value not in choices:
            return f"expected one of {', '.join(map(str, choices))}"
        return None
    if kind == "MULTISELECT":
        picked = value if isinstance(value, list) else None
        if picked is None:
            return "expected a list of values"
        wrong = [v for v in picked if choices and not custom and v not in choices]
        return f"{', '.join(map(str, wrong))} not among the values" if wrong else None
    if kind == "ARRAY":
        return None if isinstance(value, list) else "expected a list"
    if kind == "JSON" and isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError as err:
            return f"not valid JSON ({err.msg})"
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _temporal_problem(kind: str, value: Any) -> str | None:
    text = str(value).strip().replace("Z", "+00:00") if isinstance(value, str) else None
    if text is None:
        return "expected a text value"
    try:
        if kind == "DURATION":
            parse_duration(text)
        elif kind == "DATE":
            dt.date.fromisoformat(text)
        elif kind == "TIME":
            dt.time.fromisoformat(text)
        else:
            dt.datetime.fromisoformat(text)
    except ValueError:
        examples = {"DATE": "2024-01-31", "TIME": "13:45:00", "DATETIME": "2024-01-31T13:45:00Z",
                    "DURATION": "PT5M"}
        return f"expected an ISO-8601 {kind.lower()} such as {examples[kind]}"
    return None
