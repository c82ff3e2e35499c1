"""Flow inputs: raw values (CLI strings, JSON, form fields) → typed values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from runner.durations import parse_duration
from runner.errors import UsageError
from runner.model import Flow, Input

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def resolve_inputs(flow: Flow, raw: Mapping[str, Any]) -> dict[str, Any]:
    known = {i.id for i in flow.inputs}
    unknown = sorted(set(raw) - known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise UsageError(f"unknown input(s) {', '.join(unknown)} for flow {flow.qualified_id} "
                         f"(declared: {listed})")
    values: dict[str, Any] = {}
    for spec in flow.inputs:
        if spec.id in raw:
            values[spec.id] = coerce(spec, raw[spec.id])
        elif spec.defaults is not None:
            values[spec.id] = coerce(spec, spec.defaults)
        elif spec.required:
            raise UsageError(f"missing required input '{spec.id}' ({spec.type}) for flow "
                             f"{flow.qualified_id}; pass --input {spec.id}=VALUE")
        else:
            values[spec.id] = None
    return values


def coerce(spec: Input, value: Any) -> Any:
    try:
        return _coerce(spec, value)
    except (ValueError, TypeError) as err:
        raise UsageError(f"input '{spec.id}' ({spec.type}): {err}") from None


def _coerce(spec: Input, value: Any) -> Any:
    kind = spec.type.upper()
    text = value if isinstance(value, str) else None
    if kind in ("STRING", "SECRET", "EMAIL", "URI", "FILE"):
        return str(value)
    if kind == "INT":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"'{value}' is not an integer")
        return int(value)
    if kind == "FLOAT":
        return float(value)
    if kind in ("BOOLEAN", "BOOL"):
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"'{value}' is not a boolean (true or false)")
    if kind in ("JSON", "ARRAY", "MULTISELECT"):
        parsed = json.loads(text) if text is not None and kind == "JSON" else value
        if kind != "JSON" and text is not None:
            parsed = json.loads(text) if text.lstrip().startswith("[") else text.split(",")
        return parsed
    if kind == "SELECT":
        allowed = spec.props.get("values") or []
        if allowed and value not in allowed and not spec.props.get("allowCustomValue"):
            raise ValueError(f"'{value}' is not one of {', '.join(map(str, allowed))}")
        return value
    if kind == "DURATION":
        parse_duration(str(value))
        return str(value)
    if kind in ("DATETIME", "DATE", "TIME"):
        text = str(value).replace("Z", "+00:00")
        if kind == "DATE":
            return dt.date.fromisoformat(text).isoformat()
        if kind == "TIME":
            return dt.time.fromisoformat(text).isoformat()
        return dt.datetime.fromisoformat(text).isoformat()
    return value
