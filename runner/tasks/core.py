"""Core tasks: log, debug, outputs and execution control; trigger types the server fires."""

from __future__ import annotations

from typing import Any

from runner.events import State
from runner.expressions.runtime import is_truthy
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

_CONDITION = {"type": ["string", "boolean"]}

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


def run_echo(task: Task, ctx: TaskContext) -> Outcome:
    ctx.log(str(task.props.get("level", "INFO")).upper(), _text(ctx.render(task.props["format"])))
    return Outcome(State.SUCCESS)


def run_output_values(task: Task, ctx: TaskContext) -> Outcome:
    return Outcome(State.SUCCESS, {"values": ctx.render(task.props.get("values") or {})})


def run_fail(task: Task, ctx: TaskContext) -> Outcome:
    if "condition" in task.props and not is_truthy(ctx.render(task.props["condition"])):
        return Outcome(State.SUCCESS)
    message = ctx.render(task.props.get("errorMessage", "Task failure"))
    raise TaskFailed(_text(message))


def run_exit(task: Task, ctx: TaskContext) -> Outcome:
    if "condition" in task.props and not is_truthy(ctx.render(task.props["condition"])):
        return Outcome(State.SUCCESS)
    state = State(str(ctx.render(task.props.get("state", "SUCCESS"))).upper())
    ctx.exit(state)
    return Outcome(state if state in (State.WARNING, State.KILLED, State.FAILED) else State.SUCCESS)


def run_labels(task: Task, ctx: TaskContext) -> Outcome:
    raw = ctx.render(task.props["labels"])
    if isinstance(raw, list):
        raw = {item["key"]: item["value"] for item in raw}
    if not isinstance(raw, dict):
        raise TaskFailed("labels must be a map or a list of {key, value}")
    ctx.set_labels({str(k): _text(v) for k, v in raw.items()})
    return Outcome(State.SUCCESS)


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
        name="io.kestra.plugin.core.debug.Echo",
        kind="task",
        title="Deprecated: log a rendered message (use log.Log)",
        properties={"format": {"type": "string"}, "level": {"type": "string", "enum": list(LEVELS)}},
        required=("format",),
        run=run_echo,
        aliases=("io.kestra.core.tasks.debugs.Echo",),
    ),
    TypeDef(
        name="io.kestra.plugin.core.output.OutputValues",
        kind="task",
        title="Expose values as the `values` output",
        properties={"values": {"type": "object"}},
        run=run_output_values,
    ),
    TypeDef(
        name="io.kestra.plugin.core.execution.Fail",
        kind="task",
        title="Fail the execution (when the condition is true, if one is given)",
        properties={"condition": _CONDITION, "errorMessage": {"type": "string"}},
        run=run_fail,
        aliases=("io.kestra.core.tasks.executions.Fail",),
    ),
    TypeDef(
        name="io.kestra.plugin.core.execution.Exit",
        kind="task",
        title="End the execution now with the given state",
        properties={"condition": _CONDITION,
                    "state": {"type": "string", "enum": ["SUCCESS", "WARNING", "KILLED", "FAILED"]}},
        run=run_exit,
    ),
    TypeDef(
        name="io.kestra.plugin.core.execution.Labels",
        kind="task",
        title="Add or update labels of the current execution",
        properties={"labels": {"type": ["object", "array", "string"]}},
        required=("labels",),
        run=run_labels,
        aliases=("io.kestra.core.tasks.executions.Labels",),
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
        properties={"key": {"type": "string"}, "conditions": {"type": "array"},
                    "signature": {"type": "object", "additionalProperties": False,
                                  "required": ["secret"],
                                  "properties": {"secret": {"type": "string"},
                                                 "header": {"type": "string"}}}},
        required=("key",),
        aliases=("io.kestra.core.models.triggers.types.Webhook",),
    ),
)
