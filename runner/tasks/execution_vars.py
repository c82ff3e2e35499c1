"""Kestra's execution.SetVariables / UnsetVariables (change `vars` for the tasks after) and
execution.Kill (of the current execution: another one is killed through the server)."""

from __future__ import annotations

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

EXECUTION = "io.kestra.plugin.core.execution"


def run_set_variables(task: Task, ctx: TaskContext) -> Outcome:
    values = ctx.render(task.props.get("variables") or {})
    if not isinstance(values, dict):
        raise TaskFailed("variables must be a map of name to value")
    if not task.props.get("overwrite", True):
        clash = sorted(set(values) & set(ctx.variables()))
        if clash:
            raise TaskFailed(f"variable(s) {', '.join(clash)} already set and overwrite is false")
    ctx.set_variables({str(k): v for k, v in values.items()})
    return Outcome(State.SUCCESS)


def run_unset_variables(task: Task, ctx: TaskContext) -> Outcome:
    raw = ctx.render(task.props.get("variables") or [])
    names = [str(n) for n in (raw if isinstance(raw, list) else [raw])]
    missing = sorted(set(names) - set(ctx.variables()))
    if missing and not task.props.get("ignoreMissing", False):
        raise TaskFailed(f"no variable(s) {', '.join(missing)} to unset "
                         "(ignoreMissing: true accepts it)")
    ctx.set_variables({}, unset=names)
    return Outcome(State.SUCCESS)


def run_kill(task: Task, ctx: TaskContext) -> Outcome:
    wanted = ctx.render(task.props.get("executionId"))
    if wanted and str(wanted) != ctx.execution_id:
        raise TaskFailed("execution.Kill here ends its own execution only; kill another one with "
                         "POST /api/v1/executions/{id}/kill on `flows serve`")
    ctx.log("WARN", f"killing execution {ctx.execution_id}")
    ctx.exit(State.KILLED)
    return Outcome(State.SUCCESS)


TYPES = (
    TypeDef(name=f"{EXECUTION}.SetVariables", kind="task",
            title="Set execution variables (`vars`) for the tasks that run after this one",
            properties={"variables": {"type": ["object", "string"]},
                        "overwrite": {"type": "boolean"}},
            required=("variables",), run=run_set_variables),
    TypeDef(name=f"{EXECUTION}.UnsetVariables", kind="task",
            title="Remove execution variables (`vars`) for the tasks that run after this one",
            properties={"variables": {"anyOf": [{"type": "string"},
                                                {"type": "array", "items": {"type": "string"}}]},
                        "ignoreMissing": {"type": "boolean"}},
            required=("variables",), run=run_unset_variables),
    TypeDef(name=f"{EXECUTION}.Kill", kind="task", title="Kill the current execution",
            properties={"executionId": {"type": "string"},
                        "propagateToSubflows": {"type": "boolean"}},
            run=run_kill),
)
