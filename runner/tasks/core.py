"""Core tasks: log.Log, debug.Return; trigger types the server fires."""

from __future__ import annotations

from typing import Any

from runner.events import State
from runner.model import Task
from runner.tasks.base import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
STRING_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def run_log(task: Task, ctx: TaskContext) -> Outcome:
    message = ctx.render(task.props["message"])
    level = str(ctx.render(task.props.get("level", "INFO"))).upper()
    if level not in LEVELS:
        raise TaskFailed(f"level must be one of {', '.join(LEVELS)}, got '{level}'")
    for line in message if isinstance(message, list) else [message]:
        ctx.log(level, _text(line))
    return Outcome(State.SUCCESS)


def run_return(task: Task, ctx: TaskContext) -> Outcome:
    value = ctx.render(task.props.get("format", ""))
    return Outcome(State.SUCCESS, {"value": _text(value)})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


TYPES = (
    TypeDef(
        name="io.kestra.plugin.core.log.Log",
        kind="task",
        title="Log a message in the task logs",
        properties={
            "message": STRING_OR_LIST,
            "level": {"type": "string", "enum": list(LEVELS), "default": "INFO"},
        },
        required=("message",),
        run=run_log,
        aliases=("io.kestra.core.tasks.log.Log",),
    ),
    TypeDef(
        name="io.kestra.plugin.core.debug.Return",
        kind="task",
        title="Render a value and expose it as the `value` output",
        properties={"format": {"type": "string"}},
        run=run_return,
        aliases=("io.kestra.core.tasks.debugs.Return",),
    ),
    TypeDef(
        name="io.kestra.plugin.core.trigger.Schedule",
        kind="trigger",
        title="Start the flow on a cron schedule",
        properties={
            "cron": {"type": "string"},
            "timezone": {"type": "string"},
            "inputs": {"type": "object"},
            "backfill": {"type": ["object", "null"]},
            "lateMaximumDelay": {"type": "string"},
            "conditions": {"type": "array"},
            "stopAfter": {"type": "array", "items": {"type": "string"}},
            "withSeconds": {"type": "boolean"},
        },
        required=("cron",),
        aliases=("io.kestra.core.models.triggers.types.Schedule",),
    ),
    TypeDef(
        name="io.kestra.plugin.core.trigger.Flow",
        kind="trigger",
        title="Start the flow when another flow ends",
        properties={
            "conditions": {"type": "array"},
            "inputs": {"type": "object"},
            "preconditions": {"type": "object"},
            "states": {"type": "array", "items": {"type": "string"}},
        },
        aliases=("io.kestra.core.models.triggers.types.Flow",),
    ),
    TypeDef(
        name="io.kestra.plugin.core.trigger.Webhook",
        kind="trigger",
        title="Start the flow on an HTTP call to /api/v1/executions/webhook/{ns}/{id}/{key}",
        properties={"key": {"type": "string"}, "conditions": {"type": "array"}},
        required=("key",),
        aliases=("io.kestra.core.models.triggers.types.Webhook",),
    ),
)
