"""KV store tasks (io.kestra.plugin.core.kv.Set / Get / Delete)."""

from __future__ import annotations

import json
from typing import Any

from runner.durations import parse_duration
from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

KV = "io.kestra.plugin.core.kv"
_KV_TYPES = ["STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"]


def _typed(value: Any, kind: str | None) -> Any:
    if kind == "NUMBER":
        return float(value) if "." in str(value) else int(value)
    if kind == "BOOLEAN":
        return str(value).lower() == "true"
    if kind == "JSON" and isinstance(value, str):
        return json.loads(value)
    return value


def run_set(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    namespace = props.get("namespace") or ctx.namespace
    ttl = parse_duration(props["ttl"]) if props.get("ttl") else None
    try:
        value = _typed(props["value"], props.get("kvType"))
    except (ValueError, json.JSONDecodeError) as err:
        raise TaskFailed(f"value does not fit kvType {props.get('kvType')}: {err}") from None
    if not ctx.kv.set(namespace, str(props["key"]), value, ttl, bool(props.get("overwrite", True))):
        raise TaskFailed(f"key '{props['key']}' already exists in {namespace} and overwrite is false")
    return Outcome(State.SUCCESS)


def run_get(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    namespace = props.get("namespace") or ctx.namespace
    value = ctx.kv.get(namespace, str(props["key"]))
    if value is None and props.get("errorOnMissing", False):
        raise TaskFailed(f"no key '{props['key']}' in namespace {namespace}")
    return Outcome(State.SUCCESS, {"value": value})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    namespace = props.get("namespace") or ctx.namespace
    deleted = ctx.kv.delete(namespace, str(props["key"]))
    if not deleted and props.get("errorOnMissing", False):
        raise TaskFailed(f"no key '{props['key']}' in namespace {namespace}")
    return Outcome(State.SUCCESS, {"deleted": deleted})


def run_get_keys(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    namespace = props.get("namespace") or ctx.namespace
    prefix = str(props.get("prefix") or "")
    return Outcome(State.SUCCESS, {"keys": [k for k in ctx.kv.keys(namespace)
                                            if k.startswith(prefix)]})


_COMMON = {"key": {"type": "string"}, "namespace": {"type": "string"}}
TYPES = (
    TypeDef(name=f"{KV}.Set", kind="task", title="Store a value in the namespace's KV store",
            properties={**_COMMON, "value": {}, "overwrite": {"type": "boolean"},
                        "ttl": {"$ref": "#/definitions/duration"},
                        "kvType": {"type": "string", "enum": _KV_TYPES}},
            required=("key", "value"), run=run_set),
    TypeDef(name=f"{KV}.Get", kind="task", title="Read a value from the KV store (output `value`)",
            properties={**_COMMON, "errorOnMissing": {"type": "boolean"}},
            required=("key",), run=run_get),
    TypeDef(name=f"{KV}.Delete", kind="task", title="Delete a key from the KV store",
            properties={**_COMMON, "errorOnMissing": {"type": "boolean"}},
            required=("key",), run=run_delete),
    TypeDef(name=f"{KV}.GetKeys", kind="task", title="List the keys of the KV store (output `keys`)",
            properties={"prefix": {"type": "string"}, "namespace": {"type": "string"}},
            run=run_get_keys),
)
