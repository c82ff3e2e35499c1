"""Kestra's deprecated state.Set / Get / Delete (a named map of values per flow, replaced in
Kestra by the KV store), kept on the KV store so older flows run; and kv.PurgeKV."""

from __future__ import annotations

from typing import Any

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

STATE = "io.kestra.plugin.core.state"
_PROPS = {"name": {"type": "string"}, "namespace": {"type": "boolean"},
          "taskrunValue": {"type": "boolean"}}


def _key(task: Task, ctx: TaskContext) -> tuple[str, str]:
    """(KV namespace, key): flow-scoped unless `namespace: true`, as Kestra scopes states."""
    props = ctx.render({k: task.props[k] for k in _PROPS if k in task.props})
    name = str(props.get("name") or "default")
    scope = "namespace" if props.get("namespace") else str(ctx.render("{{ flow.id }}"))
    value = str(ctx.render("{{ taskrun.value ?? '' }}")) if props.get("taskrunValue", True) else ""
    return ctx.namespace, f"__state__.{scope}.{name}" + (f".{value}" if value else "")


def _current(ctx: TaskContext, where: tuple[str, str]) -> dict[str, Any]:
    found = ctx.kv.get(*where)
    return found if isinstance(found, dict) else {}


def run_set(task: Task, ctx: TaskContext) -> Outcome:
    data = ctx.render(task.props.get("data") or {})
    if not isinstance(data, dict):
        raise TaskFailed("data must be a map")
    where = _key(task, ctx)
    merged = {**_current(ctx, where), **data}
    ctx.kv.set(*where, merged)
    return Outcome(State.SUCCESS, {"count": len(merged), "key": where[1]})


def run_get(task: Task, ctx: TaskContext) -> Outcome:
    where = _key(task, ctx)
    found = ctx.kv.get(*where)
    if found is None and task.props.get("errorOnMissing", False):
        raise TaskFailed(f"no state '{task.props.get('name', 'default')}'")
    data = found if isinstance(found, dict) else {}
    return Outcome(State.SUCCESS, {"data": data, "count": len(data)})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    deleted = ctx.kv.delete(*_key(task, ctx))
    if not deleted and task.props.get("errorOnMissing", False):
        raise TaskFailed(f"no state '{task.props.get('name', 'default')}'")
    return Outcome(State.SUCCESS, {"deleted": deleted})


def run_purge_kv(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    namespaces = [str(n) for n in props.get("namespaces") or [ctx.namespace]]
    if any(n != ctx.namespace for n in namespaces) or props.get("namespacePattern"):
        raise TaskFailed(f"a run purges the KV store of its own namespace ({ctx.namespace}) only")
    size = sum(ctx.kv.purge(n, str(props.get("keyPattern") or "*"),
                            bool(props.get("expiredOnly", True))) for n in namespaces)
    return Outcome(State.SUCCESS, {"size": size})


def _deprecated(name: str, title: str, run: Any, extra: dict[str, Any]) -> TypeDef:
    return TypeDef(name=f"{STATE}.{name}", kind="task", title=f"Deprecated (use kv.*): {title}",
                   properties={**_PROPS, **extra}, run=run,
                   aliases=(f"io.kestra.core.tasks.states.{name}",))


TYPES = (
    _deprecated("Set", "merge `data` into a named state", run_set, {"data": {"type": "object"}}),
    _deprecated("Get", "read a named state (outputs `data`, `count`)", run_get,
                {"errorOnMissing": {"type": "boolean"}}),
    _deprecated("Delete", "delete a named state", run_delete,
                {"errorOnMissing": {"type": "boolean"}}),
    TypeDef(name="io.kestra.plugin.core.kv.PurgeKV", kind="task",
            title="Delete keys of the namespace's KV store (expired ones by default)",
            properties={"namespaces": {"type": "array", "items": {"type": "string"}},
                        "namespacePattern": {"type": "string"},
                        "includeChildNamespaces": {"type": "boolean"},
                        "keyPattern": {"type": "string"}, "expiredOnly": {"type": "boolean"},
                        "behavior": {"type": "object"}},
            run=run_purge_kv),
)
