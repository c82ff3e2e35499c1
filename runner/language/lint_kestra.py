"""What Kestra itself rejects, or runs otherwise, that the schema cannot say.

A FILE input whose default is not a file URI, an ARRAY input of ARRAYs, a
flowable task inside a WorkingDirectory (its children share one directory, so
they must be runnable tasks), Enterprise-only properties such as
`workerGroup`; and what this runner honours differently (a warning): a retry
`behavior` of CREATE_NEW_EXECUTION, a Schedule's `conditions`. Findings are data; the
caller positions and reports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.diagnostics import Severity
from runner.tasks.registry import Registry
from runner.yamlsource import Path

WORKING_DIRECTORY = "io.kestra.plugin.core.flow.WorkingDirectory"
SCHEDULES = frozenset({"io.kestra.plugin.core.trigger.Schedule",
                       "io.kestra.core.models.triggers.types.Schedule"})
# flow tasks that are not runnable in Kestra (they pause, or start executions) though they
# hold no child task list here
NOT_RUNNABLE = frozenset(f"io.kestra.plugin.core.flow.{name}" for name in (
    "Pause", "Subflow", "ForEachItem", "Template"))
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DYNAMIC = ("{{", "{%")
# Kestra Enterprise Edition properties: the open-source Kestra refuses them, and so do we
ENTERPRISE_ONLY = {
    "workerGroup": "workerGroup is a Kestra Enterprise Edition property and is not supported: "
                   "every task runs on the runner that runs the flow; remove it",
}


# Kestra's `commands` is a list of strings; one string is taken only as an expression that
# renders to that list (`commands: "{{ inputs.steps }}"`)
LIST_PROPERTIES = ("commands",)


@dataclass(frozen=True)
class Finding:
    path: Path
    severity: Severity
    code: str
    message: str
    value: bool = False  # position at the value rather than the key


def check(flow: dict[str, Any], tasks: Iterable[tuple[Path, dict[str, Any]]],
          registry: Registry) -> list[Finding]:
    found = list(_inputs(flow.get("inputs")))
    for path, task in tasks:
        found += _enterprise(task, path)
        found += _validated_only(task, path, "task", registry)
        found += _retry(task.get("retry"), (*path, "retry"))
        found += _commands(task, path)
        if _type_of(task, registry) == WORKING_DIRECTORY:
            found += _working_directory(task, path, registry)
    for index, trigger in enumerate(flow.get("triggers") or []):
        if isinstance(trigger, dict):
            found += _enterprise(trigger, ("triggers", index))
            found += _schedule_conditions(trigger, ("triggers", index))
            found += _validated_only(trigger, ("triggers", index), "trigger", registry)
    found += _retry(flow.get("retry"), ("retry",))
    return found


def _type_of(task: dict[str, Any], registry: Registry) -> str | None:
    name = task.get("type")
    resolved = registry.resolve(name, "task") if isinstance(name, str) else None
    return resolved.typedef.name if resolved else None


def _inputs(declared: Any) -> Iterator[Finding]:
    for index, item in enumerate(declared if isinstance(declared, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            continue
        kind, path = item["type"].upper(), ("inputs", index)
        if kind == "ENUM":
            yield Finding((*path, "type"), Severity.WARNING, "deprecated-property",
                          "input type ENUM is deprecated in Kestra (it is now SELECT); it runs "
                          "as a SELECT", True)
        default = item.get("defaults")
        if kind == "FILE" and default is not None and not _file_uri(default):
            yield Finding((*path, "defaults"), Severity.ERROR, "invalid-default",
                          f"defaults of a FILE input must be a file URI such as "
                          f"nsfile:///data.csv or kestra:///…, got {default!r}", True)
        item_type = item.get("itemType")
        if kind == "ARRAY" and isinstance(item_type, str) and item_type.upper() == "ARRAY":
            yield Finding((*path, "itemType"), Severity.ERROR, "invalid-value",
                          "an ARRAY input cannot have itemType ARRAY (Kestra rejects arrays of "
                          "arrays); use a JSON input", True)


def _file_uri(value: Any) -> bool:
    return isinstance(value, str) and (any(m in value for m in _DYNAMIC) or bool(_URI.match(value)))


def _enterprise(item: dict[str, Any], path: Path) -> Iterator[Finding]:
    for key, message in ENTERPRISE_ONLY.items():
        if key in item:
            yield Finding((*path, key), Severity.ERROR, "not-supported", message)


def _retry(retry: Any, path: Path) -> Iterator[Finding]:
    if isinstance(retry, dict) and retry.get("behavior") == "CREATE_NEW_EXECUTION":
        yield Finding((*path, "behavior"), Severity.WARNING, "runs-differently",
                      "retry behavior CREATE_NEW_EXECUTION runs as RETRY_FAILED_TASK here: the "
                      "failed task is retried inside the same execution, which keeps its id", True)


def _validated_only(item: dict[str, Any], path: Path, kind: str,
                    registry: Registry) -> Iterator[Finding]:
    """A type Kestra's server provides that this runner accepts but does not run."""
    name = item.get("type")
    resolved = registry.resolve(name, kind) if isinstance(name, str) else None
    if resolved is not None and resolved.typedef.unsupported:
        what = "fails when it runs" if kind == "task" else "never fires"
        yield Finding((*path, "type"), Severity.WARNING, "validated-only",
                      f"{name} {what} here: {resolved.typedef.unsupported}", True)


def _schedule_conditions(trigger: dict[str, Any], path: Path) -> Iterator[Finding]:
    if trigger.get("type") in SCHEDULES and trigger.get("conditions"):
        yield Finding((*path, "conditions"), Severity.WARNING, "runs-differently",
                      "the server does not evaluate a Schedule's conditions: it fires at every "
                      "cron tick; put the condition in the cron expression, or in a first task "
                      "(execution.Exit with a condition)")


def _working_directory(task: dict[str, Any], path: Path, registry: Registry) -> Iterator[Finding]:
    """Kestra: a WorkingDirectory's tasks share one directory, so each must be runnable."""
    children = task.get("tasks")
    for index, child in enumerate(children if isinstance(children, list) else []):
        if not isinstance(child, dict) or not isinstance(child.get("type"), str):
            continue
        resolved = registry.resolve(child["type"], "task")
        if resolved is None:
            continue
        typedef = resolved.typedef
        if typedef.task_slots or typedef.task_maps or typedef.dag_slot \
                or typedef.name in NOT_RUNNABLE:
            yield Finding((*path, "tasks", index, "type"), Severity.ERROR, "invalid-task",
                          f"{child['type']} is not a runnable task: only runnable tasks "
                          "(scripts, logs, files …) are allowed as children of a "
                          "WorkingDirectory, as in Kestra", True)


def _commands(task: dict[str, Any], path: Path) -> Iterator[Finding]:
    for name in LIST_PROPERTIES:
        value = task.get(name)
        if not isinstance(value, str) or any(mark in value for mark in _DYNAMIC):
            continue
        if not value.strip():  # nothing to run: what an empty editor field leaves
            yield Finding((*path, name), Severity.ERROR, "invalid-value",
                          f"'{name}' is empty: give a list of commands (`{name}:` then `- ...` "
                          "lines)", value=True)
        else:  # Kestra takes one string only as an expression giving the list
            yield Finding((*path, name), Severity.WARNING, "not-a-list",
                          f"'{name}' is one string: Kestra expects a list of strings; this "
                          "runner runs it as one command", value=True)
