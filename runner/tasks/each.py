"""Kestra's deprecated loops EachSequential and EachParallel (still valid, common in older
flows), and flow.Template (Kestra's removed server-side templates: validated only)."""

from __future__ import annotations

from runner.events import State, worst
from runner.model import Task
from runner.ports.task import Outcome, TaskContext
from runner.tasks.flow import CORE, LEGACY, handlers, loop_values
from runner.tasks.registry import TypeDef, validated_only

_VALUE = {"anyOf": [{"type": "string"}, {"type": "array"}]}
_TASKS = ("tasks", "errors")


def _each(task: Task, ctx: TaskContext, limit: int) -> Outcome:
    """Every task of `tasks` once per `value` item; outputs.<child>[item] as ForEach."""
    values = loop_values(ctx.render(task.props["value"]), "value")
    children = task.subtasks.get("tasks", ())
    states = ctx.map_concurrently(lambda v: ctx.run_tasks(children, value=v), values, limit)
    state = handlers(task, ctx, worst(states))
    return Outcome(state if state is not State.SKIPPED else State.SUCCESS)


def run_each_sequential(task: Task, ctx: TaskContext) -> Outcome:
    return _each(task, ctx, 1)


def run_each_parallel(task: Task, ctx: TaskContext) -> Outcome:
    return _each(task, ctx, int(ctx.render(task.props.get("concurrent", 0))))


TYPES = (
    TypeDef(name=f"{CORE}.EachSequential", kind="task",
            title="Deprecated (use ForEach): run tasks once per value, one value at a time",
            properties={"value": _VALUE}, required=("value", "tasks"), run=run_each_sequential,
            task_slots=(*_TASKS, "finally"), aliases=(f"{LEGACY}.EachSequential",)),
    TypeDef(name=f"{CORE}.EachParallel", kind="task",
            title="Deprecated (use ForEach with concurrencyLimit): run tasks once per value, "
                  "values in parallel",
            properties={"value": _VALUE, "concurrent": {"type": "integer", "minimum": 0}},
            required=("value", "tasks"), run=run_each_parallel,
            task_slots=(*_TASKS, "finally"), aliases=(f"{LEGACY}.EachParallel",)),
    validated_only(
        f"{CORE}.Template", "task", "Deprecated: include a template stored in Kestra's server",
        "templates are stored in Kestra's server and were removed from Kestra; use a Subflow "
        "(flow.Subflow) kept in .flows/", {"namespace": {"type": "string"},
                                           "templateId": {"type": "string"},
                                           "args": {"type": "object"}},
        ("namespace", "templateId"), (f"{LEGACY}.Template",)),
)
