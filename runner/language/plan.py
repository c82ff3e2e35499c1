"""Model → what runs: plugin defaults applied to every task (Kestra's pluginDefaults)."""

from __future__ import annotations

from dataclasses import replace

from runner.model import Flow, PluginDefault, Task


def _matches(default: PluginDefault, task_type: str) -> bool:
    return task_type == default.type or task_type.startswith(default.type.rstrip(".") + ".")


def _apply(task: Task, defaults: tuple[PluginDefault, ...]) -> Task:
    props = dict(task.props)
    for default in defaults:
        if _matches(default, task.type):
            for key, value in default.values.items():
                if default.forced or key not in props:
                    props[key] = value
    subtasks = {slot: tuple(_apply(t, defaults) for t in tasks) for slot, tasks in task.subtasks.items()}
    return replace(task, props=props, subtasks=subtasks)


def apply_plugin_defaults(flow: Flow) -> Flow:
    """Non-forced defaults fill properties a task leaves out; forced ones win over the task."""
    if not flow.plugin_defaults:
        return flow
    defaults = flow.plugin_defaults

    def group(tasks: tuple[Task, ...]) -> tuple[Task, ...]:
        return tuple(_apply(t, defaults) for t in tasks)

    return replace(flow, tasks=group(flow.tasks), errors=group(flow.errors),
                   finally_=group(flow.finally_))
