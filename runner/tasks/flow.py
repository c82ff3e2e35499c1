"""Flowable tasks (Kestra's io.kestra.plugin.core.flow.*): they run other tasks
through the context, so every child is a recorded task run with its own events."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from runner.durations import parse_duration
from runner.events import State, worst
from runner.expressions.runtime import is_truthy
from runner.model import Input, Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.files import collect_output_files, copy_namespace_files, write_input_files
from runner.tasks.registry import TypeDef

CORE = "io.kestra.plugin.core.flow"
LEGACY = "io.kestra.core.tasks.flows"
_DURATION = {"$ref": "#/definitions/duration"}
# a duration the task renders when it runs (Kestra's Property<Duration>): literal or expression
_DYNAMIC_DURATION = {"anyOf": [_DURATION, {"type": "string", "pattern": r"\{\{"}]}


def handlers(task: Task, ctx: TaskContext, state: State, *, value: str | None = None,
             workdir: Any = None) -> State:
    """After a flowable's children: its own `errors` on failure, then `finally` always."""
    if state.failed and task.subtasks.get("errors") and not ctx.cancel.is_set():
        ctx.run_tasks(task.subtasks["errors"], value=value, workdir=workdir)
    if task.subtasks.get("finally"):
        state = worst([state, ctx.run_tasks(task.subtasks["finally"], value=value,
                                            workdir=workdir)])
    return state


def run_block(task: Task, ctx: TaskContext, tasks: tuple[Task, ...], *, value: str | None = None,
              ctx_workdir: Any = None) -> State:
    """Run tasks, then this flowable's handlers."""
    state = ctx.run_tasks(tasks, value=value, workdir=ctx_workdir)
    return handlers(task, ctx, state, value=value, workdir=ctx_workdir)


def _outcome(state: State) -> Outcome:
    return Outcome(state if state is not State.SKIPPED else State.SUCCESS)


def run_sequential(task: Task, ctx: TaskContext) -> Outcome:
    return _outcome(run_block(task, ctx, task.subtasks.get("tasks", ())))


def run_working_directory(task: Task, ctx: TaskContext) -> Outcome:
    copy_namespace_files(task.props, ctx)
    write_input_files(task.props, ctx)
    state = _outcome(run_block(task, ctx, task.subtasks.get("tasks", ()),
                               ctx_workdir=ctx.workdir)).state
    kept = collect_output_files(task.props, ctx)
    return Outcome(state, {"outputFiles": kept} if kept else {})


def run_allow_failure(task: Task, ctx: TaskContext) -> Outcome:
    state = run_block(task, ctx, task.subtasks.get("tasks", ()))
    return Outcome(State.WARNING if state.failed and state is not State.KILLED else state)


def run_parallel(task: Task, ctx: TaskContext) -> Outcome:
    limit = int(ctx.render(task.props.get("concurrent", 0)))
    children = task.subtasks.get("tasks", ())
    states = ctx.map_concurrently(lambda child: ctx.run_tasks((child,)), children, limit)
    return _outcome(handlers(task, ctx, worst(states)))


def run_if(task: Task, ctx: TaskContext) -> Outcome:
    condition = ctx.render(task.props["condition"])
    branch = task.subtasks.get("then", ()) if is_truthy(condition) else task.subtasks.get("else", ())
    return Outcome(_outcome(run_block(task, ctx, branch)).state, {"evaluationResult": is_truthy(condition)})


def run_switch(task: Task, ctx: TaskContext) -> Outcome:
    value = str(ctx.render(task.props["value"]))
    cases = task.subtasks
    branch = cases.get(f"cases.{value}") or cases.get("defaults", ())
    return Outcome(_outcome(run_block(task, ctx, branch)).state, {"value": value,
                                                                   "defaults": f"cases.{value}" not in cases})


def loop_values(raw: Any, name: str = "values") -> list[str]:
    """A loop's values: a list or a JSON array; non-text items as JSON (taskrun.value)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise TaskFailed(f"{name} must be a list or a JSON array, got '{raw}'") from None
    if not isinstance(raw, list):
        raise TaskFailed(f"{name} must be a list")
    return [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in raw]


def run_for_each(task: Task, ctx: TaskContext) -> Outcome:
    values = loop_values(ctx.render(task.props["values"]))
    limit = int(ctx.render(task.props.get("concurrencyLimit", 1)))
    children = task.subtasks.get("tasks", ())
    states = ctx.map_concurrently(lambda v: ctx.run_tasks(children, value=v), values, limit)
    return _outcome(handlers(task, ctx, worst(states)))


def run_dag(task: Task, ctx: TaskContext) -> Outcome:
    children = {t.id: t for t in task.subtasks.get("tasks", ())}
    depends: Mapping[str, list[str]] = task.props.get("dependsOn", {})
    limit = int(ctx.render(task.props.get("concurrent", 0)))
    done: dict[str, State] = {}
    while len(done) < len(children):
        ready = [t for tid, t in children.items() if tid not in done
                 and all(d in done for d in depends.get(tid, []))]
        blocked = any(s.failed for s in done.values())
        if not ready or blocked or ctx.cancel.is_set():
            break
        states = ctx.map_concurrently(lambda t: ctx.run_tasks((t,)), ready, limit)
        done.update({t.id: s for t, s in zip(ready, states, strict=False)})
    state = worst(list(done.values()))
    if len(done) < len(children) and not state.failed:
        raise TaskFailed("dependsOn has a cycle; these tasks never became ready: "
                         + ", ".join(sorted(set(children) - set(done))))
    return _outcome(handlers(task, ctx, state))


def run_subflow(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render({k: v for k, v in task.props.items() if k != "outputs"})
    result = ctx.run_subflow(props["namespace"], props["flowId"], props.get("inputs") or {},
                             props.get("labels") or {}, bool(props.get("wait", True)))
    outputs = {"executionId": result.execution_id, "state": str(result.state),
               "outputs": dict(result.outputs)}
    if result.state.failed and props.get("transmitFailed", True):
        ctx.log("ERROR", f"subflow execution {result.execution_id} ended {result.state}")
        return Outcome(State.FAILED, outputs)
    return Outcome(State.WARNING if result.state is State.WARNING else State.SUCCESS, outputs)


def run_pause(task: Task, ctx: TaskContext) -> Outcome:
    raw = task.props.get("pauseDuration") or task.props.get("delay")
    delay = parse_duration(str(ctx.render(raw))) if raw else None
    timeout = None  # a Pause `timeout` is the task timeout: the engine fails it when it passes
    on_resume = [Input(id=str(i.get("id") or i.get("name")), type=str(i.get("type", "STRING")),
                       position=task.position, required=bool(i.get("required", True)),
                       defaults=i.get("defaults"), props=i)
                 for i in task.props.get("onResume") or []]
    if delay is None and timeout is None:
        ctx.log("INFO", f"paused: resume execution {ctx.execution_id} from the UI or "
                        f"POST /api/v1/executions/{ctx.execution_id}/resume")
    resumed = ctx.pause(delay, timeout, on_resume)
    if resumed is None:
        if ctx.cancel.is_set():
            return Outcome(State.KILLED)
        behavior = str(task.props.get("behavior", "RESUME")).upper()
        return Outcome({"WARN": State.WARNING, "CANCEL": State.KILLED, "FAIL": State.FAILED}
                       .get(behavior, State.SUCCESS))
    return Outcome(State.SUCCESS, {"onResume": resumed} if resumed else {})


def run_sleep(task: Task, ctx: TaskContext) -> Outcome:
    duration = parse_duration(str(ctx.render(task.props["duration"])))
    if ctx.cancel.wait(duration.total_seconds()):
        return Outcome(State.KILLED)
    return Outcome(State.SUCCESS)


def run_wait_for(task: Task, ctx: TaskContext) -> Outcome:
    """Repeat the tasks until the condition (rendered after each round) is true."""
    frequency = task.props.get("checkFrequency") or {}
    max_iterations = int(frequency.get("maxIterations", 100))
    max_duration = parse_duration(frequency.get("maxDuration", "PT1H")).total_seconds()
    interval = parse_duration(frequency.get("interval", "PT1S")).total_seconds()
    started = time.monotonic()
    iteration = 0
    while True:
        iteration += 1
        ctx.publish_outputs({"iterationCount": iteration})
        state = run_block(task, ctx, task.subtasks.get("tasks", ()))
        outputs = {"iterationCount": iteration}
        if state.failed:
            return Outcome(state, outputs)
        if is_truthy(ctx.render(task.props["condition"])):
            return Outcome(State.SUCCESS, outputs)
        if iteration >= max_iterations or time.monotonic() - started + interval > max_duration:
            ctx.log("WARN", f"condition still false after {iteration} iteration(s); giving up")
            failing = bool(task.props.get("failOnMaxReached", False))
            return Outcome(State.FAILED if failing else State.SUCCESS, outputs)
        if ctx.cancel.wait(interval):
            return Outcome(State.KILLED, outputs)


_TASK_LIST = {"$ref": "#/definitions/tasks"}
_HANDLERS = ("errors", "finally")


def _flowable(name: str, title: str, run: Any, slots: tuple[str, ...], properties: dict[str, Any],
              required: tuple[str, ...] = (), legacy: bool = True, **shape: Any) -> TypeDef:
    return TypeDef(name=f"{CORE}.{name}", kind="task", title=title, properties=properties,
                   required=required, run=run, task_slots=(*slots, *_HANDLERS),
                   aliases=(f"{LEGACY}.{name}",) if legacy else (), **shape)


TYPES = (
    _flowable("Sequential", "Run tasks one after the other", run_sequential, ("tasks",), {},
              ("tasks",)),
    _flowable("Parallel", "Run tasks at the same time", run_parallel, ("tasks",),
              {"concurrent": {"type": "integer", "minimum": 0}}, ("tasks",)),
    _flowable("If", "Run `then` when the condition is true, else `else`", run_if, ("then", "else"),
              {"condition": {"type": ["string", "boolean"]}}, ("condition", "then")),
    _flowable("Switch", "Run the tasks of the case matching `value`", run_switch, ("defaults",),
              {"value": {"type": "string"},
               "cases": {"type": "object", "additionalProperties": _TASK_LIST}}, ("value",),
              task_maps=("cases",)),
    _flowable("ForEach", "Run tasks once per value", run_for_each, ("tasks",),
              {"values": {"anyOf": [{"type": "string"}, {"type": "array"}]},
               "concurrencyLimit": {"type": "integer", "minimum": 0}}, ("values", "tasks"),
              legacy=False),
    _flowable("Dag", "Run tasks in the order their dependsOn lists ask", run_dag, (),
              {"concurrent": {"type": "integer", "minimum": 0},
               "tasks": {"type": "array", "items": {
                   "type": "object", "required": ["task"], "additionalProperties": False,
                   "properties": {"task": {"$ref": "#/definitions/task"},
                                  "dependsOn": {"type": "array", "items": {"type": "string"}}}}}},
              ("tasks",), dag_slot="tasks"),
    _flowable("AllowFailure", "Run tasks; a failure only makes this a WARNING", run_allow_failure,
              ("tasks",), {}, ("tasks",)),
    _flowable("WorkingDirectory", "Run tasks that share one working directory", run_working_directory,
              ("tasks",), {"inputFiles": {"type": "object"}, "outputFiles": {"type": "array"},
                           "namespaceFiles": {"type": "object"}, "cache": {"type": "object"}},
              ("tasks",)),
    *(_flowable(name, "Repeat tasks until the condition is true", run_wait_for, ("tasks",),
                {"condition": {"type": ["string", "boolean"]},
                 "checkFrequency": {"type": "object", "additionalProperties": False, "properties": {
                     "maxIterations": {"type": "integer", "minimum": 1},
                     "maxDuration": _DURATION, "interval": _DURATION}},
                 "failOnMaxReached": {"type": "boolean"}}, ("condition", "tasks"), legacy=False)
      for name in ("WaitFor", "LoopUntil")),
    TypeDef(name=f"{CORE}.Subflow", kind="task", title="Run another flow and wait for it",
            properties={"namespace": {"type": "string"}, "flowId": {"type": "string"},
                        "inputs": {"type": "object"}, "labels": {"type": ["object", "array"]},
                        "wait": {"type": "boolean"}, "transmitFailed": {"type": "boolean"},
                        "inheritLabels": {"type": "boolean"}, "revision": {"type": "integer"},
                        "outputs": {"type": "object"}, "scheduleDate": {"type": "string"}},
            required=("namespace", "flowId"), run=run_subflow, aliases=(f"{LEGACY}.Subflow",
                                                                         f"{LEGACY}.Flow")),
    TypeDef(name=f"{CORE}.Pause", kind="task", title="Pause until resumed, or for a duration",
            properties={"pauseDuration": _DYNAMIC_DURATION,
                        "delay": {**_DYNAMIC_DURATION, "deprecated": True},
                        "behavior": {"type": "string", "enum": ["RESUME", "WARN", "CANCEL", "FAIL"]},
                        "onResume": {"type": "array", "items": {"$ref": "#/definitions/input"}},
                        "tasks": {"type": "array", "deprecated": True}},
            run=run_pause, aliases=(f"{LEGACY}.Pause",)),
    TypeDef(name=f"{CORE}.Sleep", kind="task", title="Wait for a duration",
            properties={"duration": _DYNAMIC_DURATION}, required=("duration",), run=run_sleep),
)

