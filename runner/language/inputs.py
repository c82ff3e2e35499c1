"""Flow inputs: raw values (CLI strings, JSON, form fields) → typed, validated values.

Kestra's types and validators: STRING `validator` (regex, whole match) and
min/maxLength, INT/FLOAT/DURATION min/max, DATETIME/DATE/TIME after/before,
SELECT/MULTISELECT values, ARRAY itemType, EMAIL, URI, JSON, YAML.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from runner.durations import parse_duration
from runner.errors import UsageError
from runner.model import Flow, Input, Output

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def resolve_inputs(flow: Flow, raw: Mapping[str, Any]) -> dict[str, Any]:
    return resolve(flow.inputs, raw, f"flow {flow.qualified_id}")


def resolve(specs: Sequence[Input], raw: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Typed values for the declared inputs (defaults, required, validators); `owner` names
    who declares them in error messages (a flow, a Pause's onResume)."""
    known = {i.id for i in specs}
    unknown = sorted(set(raw) - known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise UsageError(f"unknown input(s) {', '.join(unknown)} for {owner} "
                         f"(declared: {listed})")
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.id in raw and raw[spec.id] is not None:
            values[spec.id] = coerce(spec, raw[spec.id])
        elif spec.defaults is not None:
            values[spec.id] = coerce(spec, spec.defaults)
        elif spec.required:
            raise UsageError(f"missing required input '{spec.id}' ({spec.type}) for {owner}; "
                             f"pass --input {spec.id}=VALUE")
        else:
            values[spec.id] = None
    return values


def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted input ids (`request.name`) also readable as `inputs.request.name`, as in Kestra."""
    out: dict[str, Any] = dict(values)
    for key, value in values.items():
        if "." not in key:
            continue
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return out


def typed_output(output: Output, value: Any) -> Any:
    """A flow output's rendered value as its declared type (INT 42, not "42"), as Kestra
    types outputs; UsageError when it does not fit."""
    spec = Input(id=output.id, type=output.type or "STRING", position=output.position)
    kind = spec.type.upper()
    if kind in ("JSON", "ARRAY", "MULTISELECT") and isinstance(value, str):
        try:  # rendered expressions are text; the structure is what the flow meant
            value = json.loads(value)
        except json.JSONDecodeError:
            if kind == "JSON":
                raise UsageError(f"output '{output.id}' (JSON): not JSON: {value[:80]}") from None
    try:
        return _coerce(kind, spec, value)
    except (ValueError, TypeError) as err:
        raise UsageError(f"output '{output.id}' ({output.type}): {err}") from None


def coerce(spec: Input, value: Any) -> Any:
    try:
        typed = _coerce(spec.type.upper(), spec, value)
        _validate(spec, typed)
        return typed
    except (ValueError, TypeError) as err:
        raise UsageError(f"input '{spec.id}' ({spec.type}): {err}") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"'{value}' is not a boolean (true or false)")


def _int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"'{value}' is not an integer")
    try:
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an integer") from None


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a number") from None


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        parsed = json.loads(text)
        if isinstance(parsed, list):
            return parsed
    return [part.strip() for part in text.split(",")] if text else []


def _coerce(kind: str, spec: Input, value: Any) -> Any:
    if kind in ("STRING", "SECRET", "FILE"):
        return value if isinstance(value, str) else json.dumps(value) if isinstance(
            value, dict | list) else str(value)
    if kind == "EMAIL":
        if not _EMAIL.match(str(value)):
            raise ValueError(f"'{value}' is not an email address")
        return str(value)
    if kind == "URI":
        parsed = urllib.parse.urlparse(str(value))
        if not parsed.scheme or not (parsed.netloc or parsed.path):
            raise ValueError(f"'{value}' is not a URI")
        return str(value)
    if kind == "INT":
        return _int(value)
    if kind == "FLOAT":
        return _float(value)
    if kind in ("BOOLEAN", "BOOL"):
        return _bool(value)
    if kind == "JSON":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "YAML":
        if not isinstance(value, str):
            return value
        from runner.yamlsource import YamlSyntaxError, load  # only YAML inputs need the loader

        try:
            return load(value, "<input>").data
        except YamlSyntaxError as err:
            raise ValueError(err.diagnostics[0].message) from None
    if kind in ("ARRAY", "MULTISELECT"):
        items = _list(value)
        item_type = str(spec.props.get("itemType", "STRING")).upper()
        return [_coerce(item_type, spec, item) for item in items] if kind == "ARRAY" else items
    if kind in ("SELECT", "ENUM"):  # ENUM: Kestra's legacy name of SELECT
        return value if isinstance(value, str) else str(value)
    if kind == "DURATION":
        parse_duration(str(value))
        return str(value)
    if kind in ("DATETIME", "DATE", "TIME"):
        text = str(value).replace("Z", "+00:00")
        parser = {"DATE": dt.date.fromisoformat, "TIME": dt.time.fromisoformat,
                  "DATETIME": dt.datetime.fromisoformat}[kind]
        try:
            return parser(text).isoformat()  # type: ignore[attr-defined]
        except ValueError:
            raise ValueError(f"'{value}' is not an ISO-8601 {kind.lower()}") from None
    return value


def _validate(spec: Input, value: Any) -> None:
    props, kind = spec.props, spec.type.upper()
    if kind in ("STRING", "SECRET") and props.get("validator") \
            and not re.fullmatch(str(props["validator"]), value):
        raise ValueError(f"'{value}' does not match {props['validator']}")
    if kind in ("STRING", "SECRET"):
        if "minLength" in props and len(value) < int(props["minLength"]):
            raise ValueError(f"must be at least {props['minLength']} characters")
        if "maxLength" in props and len(value) > int(props["maxLength"]):
            raise ValueError(f"must be at most {props['maxLength']} characters")
    if kind in ("INT", "FLOAT"):
        if "min" in props and value < float(props["min"]):
            raise ValueError(f"{value} is below the minimum {props['min']}")
        if "max" in props and value > float(props["max"]):
            raise ValueError(f"{value} is above the maximum {props['max']}")
    if kind == "DURATION":
        length = parse_duration(value)
        if "min" in props and length < parse_duration(str(props["min"])):
            raise ValueError(f"{value} is shorter than {props['min']}")
        if "max" in props and length > parse_duration(str(props["max"])):
            raise ValueError(f"{value} is longer than {props['max']}")
    if kind in ("DATETIME", "DATE", "TIME"):
        if "after" in props and value <= str(props["after"]):
            raise ValueError(f"{value} is not after {props['after']}")
        if "before" in props and value >= str(props["before"]):
            raise ValueError(f"{value} is not before {props['before']}")
    allowed = props.get("values") or props.get("options")
    if kind in ("SELECT", "ENUM", "MULTISELECT") and isinstance(allowed, list) \
            and not props.get("allowCustomValue"):
        chosen = value if isinstance(value, list) else [value]
        wrong = [v for v in chosen if v not in allowed]
        if wrong:
            raise ValueError(f"'{wrong[0]}' is not one of {', '.join(map(str, allowed))}")
