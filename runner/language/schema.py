"""The flow JSON Schema, generated from the type registry, and validation
that turns schema errors into positioned diagnostics.

The only module that imports jsonschema, on the first flow it checks that is not
known to pass already (schema_cache). `schemas/flow.schema.json` is this module's
output, checked in for editors; a test keeps the two identical.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from runner.diagnostics import Diagnostic, Severity
from runner.durations import EXAMPLES, is_duration, parse_duration, schema_pattern
from runner.language.schema_cache import Passes, cache_file, flow_key, schema_key
from runner.tasks.registry import Registry, TypeDef
from runner.yamlsource import Located

if TYPE_CHECKING:
    from jsonschema import Draft7Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

FLOW_ID = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
TASK_ID = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
NAMESPACE = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"
DURATION = schema_pattern()
INPUT_TYPES = ["STRING", "INT", "FLOAT", "BOOLEAN", "BOOL", "DATETIME", "DATE", "TIME", "DURATION",
               "JSON", "YAML", "URI", "FILE", "SELECT", "MULTISELECT", "ARRAY", "SECRET", "EMAIL",
               "ENUM"]  # ENUM: Kestra's legacy name of SELECT

_DURATION = {"type": "string", "pattern": DURATION, "format": "duration",
             "description": f"an ISO-8601 duration ({EXAMPLES})"}
_TASKS = {"type": "array", "items": {"$ref": "#/definitions/task"}}
_LEVEL = {"type": "string", "enum": ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]}

TASK_COMMON: dict[str, Any] = {
    "id": {"type": "string", "pattern": TASK_ID,
           "description": "letters, digits, '_' and '-' (no dots), starting with a letter or digit"},
    "type": {"type": "string"},
    "description": {"type": "string"},
    "disabled": {"type": "boolean"},
    "timeout": {"$ref": "#/definitions/duration"},
    "retry": {"$ref": "#/definitions/retry"},
    "allowFailure": {"type": "boolean"},
    "allowWarning": {"type": "boolean"},
    "runIf": {"type": ["string", "boolean"]},
    "logLevel": _LEVEL,
    "logToFile": {"type": "boolean"},
    "workerGroup": {"type": "object"},
    "version": {"type": "string"},
}
TRIGGER_COMMON: dict[str, Any] = {
    "id": TASK_COMMON["id"], "type": {"type": "string"}, "description": {"type": "string"},
    "disabled": {"type": "boolean"}, "conditions": {"type": "array"},
    "stopAfter": {"type": "array", "items": {"type": "string"}}, "logToFile": {"type": "boolean"},
    "workerGroup": {"type": "object"}, "minLogLevel": _LEVEL,
}

_DEFINITIONS: dict[str, Any] = {
    "duration": _DURATION,
    "tasks": _TASKS,
    "retry": {
        "type": "object", "additionalProperties": False, "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": ["constant", "exponential", "random"]},
            "maxAttempts": {"type": "integer", "minimum": 1},
            "maxAttempt": {"type": "integer", "minimum": 1, "deprecated": True},
            "maxDuration": {"$ref": "#/definitions/duration"},
            "interval": {"$ref": "#/definitions/duration"},
            "maxInterval": {"$ref": "#/definitions/duration"},
            "minInterval": {"$ref": "#/definitions/duration"},
            "delayFactor": {"type": "number"},
            "behavior": {"type": "string", "enum": ["RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION"]},
            "warningOnRetry": {"type": "boolean"},
        },
    },
    "input": {
        "type": "object", "additionalProperties": False, "required": ["type"],
        "properties": {
            "id": {"type": "string", "pattern": r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$",
                   "description": "letters, digits, '.', '_' and '-', starting with a letter or digit"},
            "name": {"type": "string", "deprecated": True},
            "type": {"type": "string", "enum": INPUT_TYPES},
            **{k: {"type": "string"} for k in ("description", "displayName", "validator",
                                               "after", "before", "expression", "itemType",
                                               "prefill")},
            "required": {"type": "boolean"},
            "defaults": {},
            "values": {"anyOf": [{"type": "array"}, {"type": "string"}]},
            "allowCustomValue": {"type": "boolean"}, "autoSelectFirst": {"type": "boolean"},
            "min": {}, "max": {}, "minLength": {"type": "integer"},
            "maxLength": {"type": "integer"}, "dependsOn": {"type": "object"},
            "allowedFileExtensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "pluginDefault": {
        "type": "object", "additionalProperties": False, "required": ["type", "values"],
        "properties": {"type": {"type": "string", "description": "a type name or a prefix of one"},
                       "values": {"type": "object"}, "forced": {"type": "boolean"}},
    },
    "output": {
        "type": "object", "additionalProperties": False, "required": ["id", "value"],
        "properties": {
            "id": {"type": "string"}, "type": {"type": "string", "enum": INPUT_TYPES},
            "value": {}, "description": {"type": "string"}, "displayName": {"type": "string"},
            "required": {"type": "boolean"},
        },
    },
}


def _dispatch(kind: str, defs: list[TypeDef], common: dict[str, Any]) -> dict[str, Any]:
    """A schema that checks `type` first, then the properties of that type."""
    return {
        "type": "object",
        "required": ["id", "type"] if kind in ("task", "trigger") else ["type"],
        "properties": {"type": {"type": "string"}},
        "allOf": [
            {"if": {"properties": {"type": {"enum": [d.name, *d.aliases]}}, "required": ["type"]},
             "then": {"$ref": f"#/definitions/{kind}:{d.name}"}}
            for d in defs
        ],
    }


def _type_schema(typedef: TypeDef, common: dict[str, Any]) -> dict[str, Any]:
    properties = {**common, **_local_refs(typedef.properties)}
    for slot in typedef.task_slots:  # a list of tasks unless the type says more (e.g. a map of lists)
        properties.setdefault(slot, {"$ref": "#/definitions/tasks"})
    return {
        "title": typedef.title,
        "type": "object",
        "properties": properties,
        "required": sorted({*(["id", "type"] if "id" in common else ["type"]),
                            *typedef.required}),
        # a validated-only type checks what it knows and lets the rest through: it never runs
        # here, and must not reject a flow Kestra accepts
        "additionalProperties": bool(typedef.unsupported),
    }


def _local_refs(value: Any) -> Any:
    """Copy of value with `#/$defs/x` refs (2019-09 spelling) written `#/definitions/x`."""
    if isinstance(value, Mapping):
        return {k: (v.replace("#/$defs/", "#/definitions/", 1)
                    if k == "$ref" and isinstance(v, str) else _local_refs(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_local_refs(v) for v in value]
    return value


def build_schema(registry: Registry) -> dict[str, Any]:
    definitions: dict[str, Any] = dict(_DEFINITIONS)
    commons = {"task": TASK_COMMON, "trigger": TRIGGER_COMMON, "runner": {"type": {"type": "string"}},
               "condition": {"type": {"type": "string"}}}  # a Flow trigger's conditions
    for kind, common in commons.items():
        defs = sorted(registry.of_kind(kind), key=lambda d: d.name)
        definitions["taskRunner" if kind == "runner" else kind] = _dispatch(kind, defs, common)
        for typedef in defs:
            definitions[f"{kind}:{typedef.name}"] = _type_schema(typedef, common)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "gitflows flow (Kestra-compatible)",
        "type": "object",
        "required": ["id", "namespace", "tasks"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": FLOW_ID, "maxLength": 100,
                   "description": "letters, digits, '.', '_' and '-', starting with a letter or digit"},
            "namespace": {"type": "string", "pattern": NAMESPACE, "maxLength": 150,
                          "description": "lowercase words separated by dots, e.g. company.team"},
            "revision": {"type": "integer"},
            "description": {"type": "string"},
            "labels": {"anyOf": [
                {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                {"type": "array", "items": {"type": "object", "required": ["key", "value"],
                                            "properties": {"key": {"type": "string"}, "value": {}},
                                            "additionalProperties": False}}]},
            "inputs": {"type": "array", "items": {"$ref": "#/definitions/input"}},
            "variables": {"type": "object"},
            "tasks": {**_TASKS, "minItems": 1},
            "errors": _TASKS, "finally": _TASKS, "afterExecution": _TASKS,
            "outputs": {"type": "array", "items": {"$ref": "#/definitions/output"}},
            "triggers": {"type": "array", "items": {"$ref": "#/definitions/trigger"}},
            "pluginDefaults": {"type": "array", "items": {"$ref": "#/definitions/pluginDefault"}},
            "taskDefaults": {"type": "array", "items": {"$ref": "#/definitions/pluginDefault"},
                             "deprecated": True},
            "disabled": {"type": "boolean"},
            "deleted": {"type": "boolean"},
            "concurrency": {"type": "object", "required": ["limit"], "properties": {
                "limit": {"type": "integer", "minimum": 1},
                "behavior": {"type": "string", "enum": ["QUEUE", "CANCEL", "FAIL"]}},
                "additionalProperties": False},
            "retry": {"$ref": "#/definitions/retry"},
            "workerGroup": {"type": "object"},
            "sla": {"type": "array"},
            "checks": {"type": "array"},
        },
        "definitions": definitions,
    }


def _duration_fits(value: object) -> bool:
    if is_duration(value):  # a malformed one is the pattern's to report
        parse_duration(str(value))
    return True


@cache
def _formats() -> FormatChecker:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("duration", raises=ValueError)(_duration_fits)
    return checker


@cache
def _passes() -> Passes:
    return Passes(cache_file())


class FlowValidator:
    """A compiled flow schema; reuse one for many flows. Compiled on the first flow not
    known to pass (schema_cache), so a flow checked before costs no jsonschema import."""

    def __init__(self, schema: dict[str, Any] | Callable[[], dict[str, Any]],
                 passes: Passes | None = None, key: str | None = None) -> None:
        """schema, or what builds it on the first flow not known to pass; key, when given,
        names that schema in the kept passes (else a hash of the schema)."""
        self._schema = schema if isinstance(schema, dict) else None
        self._build = schema if not isinstance(schema, dict) else None
        self._passes = passes
        self._key = key
        self._validator: Draft7Validator | None = None
        self._lock = threading.Lock()

    @property
    def schema(self) -> dict[str, Any]:
        with self._lock:
            if self._schema is None:
                assert self._build is not None
                self._schema = self._build()
            return self._schema

    def _compiled(self) -> Draft7Validator:
        schema = self.schema
        with self._lock:
            if self._validator is None:
                from jsonschema import Draft7Validator

                self._validator = Draft7Validator(schema, format_checker=_formats())
            return self._validator

    def _flow_key(self, located: Located) -> str | None:
        if self._key is None:
            self._key = schema_key(self.schema)
        return flow_key(self._key, located.data)

    def validate(self, located: Located) -> list[Diagnostic]:
        passes = self._passes if self._passes is not None else _passes()
        key = self._flow_key(located) if passes.path is not None else None
        if key is not None and key in passes:
            return []
        found: set[Diagnostic] = set()
        for error in self._compiled().iter_errors(located.data):
            found.update(_diagnostics(error, located))
        if key is not None and not found:
            passes.add(key)
        return sorted(found)


def validate(schema: dict[str, Any], located: Located) -> list[Diagnostic]:
    return FlowValidator(schema).validate(located)


def _diagnostics(error: ValidationError, located: Located) -> Iterator[Diagnostic]:
    from jsonschema.exceptions import best_match

    if error.context:  # anyOf/oneOf: report the branch that came closest
        yield from _diagnostics(best_match(error.context), located)
        return
    path = tuple(error.absolute_path)
    kind, instance, schema = error.validator, error.instance, error.schema

    def at(pos: tuple[int, int], code: str, message: str) -> Diagnostic:
        return Diagnostic(located.file, pos[0], pos[1], Severity.ERROR, code, message)

    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        for key in instance:
            if key not in known:
                yield at(located.pos((*path, key)), "unknown-property",
                         f"unknown property '{key}'{_where(path)}{_did_you_mean(key, known)}")
    elif kind == "required" and isinstance(instance, dict):
        for missing in error.validator_value:
            if missing not in instance:
                yield at(located.pos(path), "missing-property",
                         f"missing required property '{missing}'{_where(path)}")
    elif kind == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        names = [_TYPE_NAMES.get(str(e), str(e)) for e in expected]
        yield at(located.value_at(path), "invalid-type",
                 f"{_name(path)} must be {' or '.join(names)}, got {_json_type(instance)}")
    elif kind == "enum":
        options = [str(o) for o in error.validator_value]
        yield at(located.value_at(path), "invalid-value",
                 f"{_name(path)} must be one of {', '.join(options)}; got '{instance}'"
                 f"{_did_you_mean(str(instance), options)}")
    elif kind == "pattern":
        expectation = schema.get("description") or f"match {error.validator_value}"
        yield at(located.value_at(path), "invalid-value",
                 f"{_name(path)} '{instance}' is invalid: expected {expectation}")
    elif kind == "format":
        reason = str(error.cause) if error.cause else error.message
        yield at(located.value_at(path), "invalid-value", f"{_name(path)}: {reason}")
    elif kind in _LIMITS:
        yield at(located.value_at(path), "invalid-value",
                 f"{_name(path)} {_LIMITS[kind].format(error.validator_value)}")
    else:
        yield at(located.value_at(path), "invalid-value", f"{_name(path)}: {error.message}")


_TYPE_NAMES = {"array": "a list", "object": "a mapping", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "null": "null"}
_LIMITS = {"minItems": "must have at least {} item(s)", "maxItems": "must have at most {} item(s)",
           "minLength": "must be at least {} character(s) long",
           "maxLength": "must be at most {} character(s) long",
           "minimum": "must be at least {}", "maximum": "must be at most {}"}


def _name(path: tuple[Any, ...]) -> str:
    names = [str(p) for p in path if not isinstance(p, int)]
    return f"'{names[-1]}'" if names else "the flow"


def _where(path: tuple[Any, ...]) -> str:
    """' in tasks[0].retry' for nested mappings; '' at the top of the flow."""
    if not path:
        return ""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f" in {text}"


def _json_type(value: Any) -> str:
    for cls, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                      (str, "a string"), (list, "a list"), (dict, "a mapping")):
        if isinstance(value, cls):
            return name
    return "null"


def _did_you_mean(word: str, options: list[str]) -> str:
    import difflib  # only for a "did you mean": not on every validate

    by_lower = {o.lower(): o for o in options}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[match[0]]}'?)" if match else ""
