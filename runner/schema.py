"""The flow JSON Schema, generated from the type registry, and validation
that turns schema errors into positioned diagnostics.

The only module that imports jsonschema. `schemas/flow.schema.json` is this
module's output, checked in for editors; a test keeps the two identical.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from runner.diagnostics import Diagnostic, Severity
from runner.tasks.registry import Registry, TypeDef
from runner.yamlsource import Located

FLOW_ID = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
TASK_ID = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
NAMESPACE = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"
DURATION = r"^P(?!$)(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
INPUT_TYPES = ["STRING", "INT", "FLOAT", "BOOLEAN", "BOOL", "DATETIME", "DATE", "TIME", "DURATION",
               "JSON", "YAML", "URI", "FILE", "SELECT", "MULTISELECT", "ARRAY", "SECRET", "EMAIL"]

_DURATION = {"type": "string", "pattern": DURATION,
             "description": "an ISO-8601 duration such as PT30S, PT5M, PT1H or P1D"}
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
            "id": {"type": "string", "pattern": r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$"},
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
        "required": ["id", "type"] if kind != "runner" else ["type"],
        "properties": {"type": {"type": "string"}},
        "allOf": [
            {"if": {"properties": {"type": {"enum": [d.name, *d.aliases]}}, "required": ["type"]},
             "then": {"$ref": f"#/definitions/{kind}:{d.name}"}}
            for d in defs
        ],
    }


def _type_schema(typedef: TypeDef, common: dict[str, Any]) -> dict[str, Any]:
    properties = {**common, **typedef.properties}
    for slot in typedef.task_slots:
        properties[slot] = {"$ref": "#/definitions/tasks"}
    return {
        "title": typedef.title,
        "type": "object",
        "properties": properties,
        "required": sorted({*(["id", "type"] if "id" in common else ["type"]),
                            *typedef.required}),
        "additionalProperties": False,
    }


def build_schema(registry: Registry) -> dict[str, Any]:
    definitions: dict[str, Any] = dict(_DEFINITIONS)
    commons = {"task": TASK_COMMON, "trigger": TRIGGER_COMMON, "runner": {"type": {"type": "string"}}}
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
            "pluginDefaults": {"type": "array"},
            "taskDefaults": {"type": "array", "deprecated": True},
            "disabled": {"type": "boolean"},
            "deleted": {"type": "boolean"},
            "concurrency": {"type": "object", "properties": {
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


def validate(schema: dict[str, Any], located: Located) -> list[Diagnostic]:
    validator = Draft7Validator(schema)
    found: set[Diagnostic] = set()
    for error in validator.iter_errors(located.data):
        found.update(_diagnostics(error, located))
    return sorted(found)


def _diagnostics(error: ValidationError, located: Located) -> Iterator[Diagnostic]:
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
                         f"unknown property '{key}'{_did_you_mean(key, known)}")
    elif kind == "required":
        missing = str(error.validator_value and error.message.split("'")[1])
        yield at(located.pos(path), "missing-property", f"missing required property '{missing}'")
    elif kind == "type":
        expected = error.validator_value
        names = " or ".join(expected) if isinstance(expected, list) else expected
        yield at(located.value_at(path), "invalid-type",
                 f"{_name(path)} must be {names}, got {_json_type(instance)}")
    elif kind == "enum":
        options = [str(o) for o in error.validator_value]
        yield at(located.value_at(path), "invalid-value",
                 f"{_name(path)} must be one of {', '.join(options)}; got '{instance}'"
                 f"{_did_you_mean(str(instance), options)}")
    elif kind == "pattern":
        expectation = schema.get("description") or f"match {error.validator_value}"
        yield at(located.value_at(path), "invalid-value",
                 f"{_name(path)} '{instance}' is invalid: expected {expectation}")
    else:
        yield at(located.value_at(path), "invalid-value", f"{_name(path)}: {error.message}")


def _name(path: tuple[Any, ...]) -> str:
    names = [str(p) for p in path if not isinstance(p, int)]
    return f"'{names[-1]}'" if names else "value"


def _json_type(value: Any) -> str:
    for cls, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                      (str, "a string"), (list, "a list"), (dict, "a mapping")):
        if isinstance(value, cls):
            return name
    return "null"


def _did_you_mean(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
