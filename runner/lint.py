"""Semantic checks on the positioned flow tree: what the schema cannot say.

Unknown types (with the closest known one), legacy aliases, duplicate task
ids, deprecated properties. Diagnostics are data; nothing here raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runner.diagnostics import Diagnostic, Severity
from runner.tasks.registry import Registry
from runner.yamlsource import Located, Path

FLOW_TASK_LISTS = ("tasks", "errors", "finally", "afterExecution")


def check(located: Located, registry: Registry) -> list[Diagnostic]:
    flow = located.data
    if not isinstance(flow, dict):
        return []
    found: list[Diagnostic] = []

    def add(path: Path, severity: Severity, code: str, message: str, value: bool = False) -> None:
        line, col = located.value_at(path) if value else located.pos(path)
        found.append(Diagnostic(located.file, line, col, severity, code, message))

    seen: dict[str, Path] = {}
    for path, task in iter_tasks(flow, registry):
        _check_type(task, path, "task", registry, add)
        task_id = task.get("id")
        if isinstance(task_id, str):
            if task_id in seen:
                line = located.pos(seen[task_id])[0]
                add((*path, "id"), Severity.ERROR, "duplicate-task-id",
                    f"task id '{task_id}' is already used at line {line}; task ids are unique "
                    "within a flow", value=True)
            else:
                seen[task_id] = (*path, "id")
        runner = task.get("taskRunner")
        if isinstance(runner, dict):
            _check_type(runner, (*path, "taskRunner"), "runner", registry, add)
        retry = task.get("retry")
        if isinstance(retry, dict) and "maxAttempt" in retry:
            add((*path, "retry", "maxAttempt"), Severity.WARNING, "deprecated-property",
                "'maxAttempt' is deprecated; use 'maxAttempts'")
    for index, trigger in enumerate(flow.get("triggers") or []):
        if isinstance(trigger, dict):
            _check_type(trigger, ("triggers", index), "trigger", registry, add)
    for index, item in enumerate(flow.get("inputs") or []):
        if isinstance(item, dict):
            path = ("inputs", index)
            if "id" not in item and "name" not in item:
                add(path, Severity.ERROR, "missing-property", "missing required property 'id'")
            elif "name" in item:
                add((*path, "name"), Severity.WARNING, "deprecated-property",
                    "input 'name' is deprecated; use 'id'")
    if "taskDefaults" in flow:
        add(("taskDefaults",), Severity.WARNING, "deprecated-property",
            "'taskDefaults' is deprecated; use 'pluginDefaults'")
    return sorted(found)


def iter_tasks(flow: dict[str, Any], registry: Registry) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every task mapping in the flow, nested ones included, with its path."""
    for key in FLOW_TASK_LISTS:
        yield from _walk(flow.get(key), (key,), registry)


def _walk(tasks: Any, path: Path, registry: Registry) -> Iterator[tuple[Path, dict[str, Any]]]:
    if not isinstance(tasks, list):
        return
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        here = (*path, index)
        yield here, task
        resolved = registry.resolve(str(task.get("type")), "task")
        for slot in resolved.typedef.task_slots if resolved else ():
            yield from _walk(task.get(slot), (*here, slot), registry)


def _check_type(node: dict[str, Any], path: Path, kind: str, registry: Registry, add: Any) -> None:
    name = node.get("type")
    if not isinstance(name, str):
        return
    resolved = registry.resolve(name, kind)
    if resolved is None:
        guess = registry.closest(name, kind)
        hint = f" (did you mean '{guess}'?)" if guess else ""
        label = "task runner" if kind == "runner" else kind
        add((*path, "type"), Severity.ERROR, "unknown-type", f"unknown {label} type '{name}'{hint}",
            value=True)
    elif resolved.via_alias:
        add((*path, "type"), Severity.WARNING, "deprecated-type",
            f"'{name}' is a legacy name; use '{resolved.typedef.name}'", value=True)
