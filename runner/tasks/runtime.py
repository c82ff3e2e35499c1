"""Core tasks about the run itself: log.Fetch, metric.Publish, templating.TemplatedTask."""

from __future__ import annotations

import json
from typing import Any

from runner.events import State
from runner.expressions.runtime import is_truthy
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef
from runner.tasks.storage_files import store

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


def run_fetch(task: Task, ctx: TaskContext) -> Outcome:
    """This execution's log lines at `level` or above (of `tasksId` if given) into a file."""
    props = ctx.render(dict(task.props))
    wanted = props.get("executionId")
    if wanted and str(wanted) != ctx.execution_id:
        raise TaskFailed("log.Fetch reads the logs of its own execution only; another "
                         "execution's logs are in its history (`flows logs`)")
    level = str(props.get("level") or "INFO").upper()
    if level not in LEVELS:
        raise TaskFailed(f"level must be one of {', '.join(LEVELS)}, got '{level}'")
    floor = LEVELS.index(level)
    tasks = {str(t) for t in props.get("tasksId") or []}
    lines = [line for line in ctx.execution_logs()
             if LEVELS.index(line["level"]) >= floor and (not tasks or line["taskId"] in tasks)]
    data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    return Outcome(State.SUCCESS, {"size": len(lines), "uri": store(ctx, data.encode(), "logs.ion")})


def run_publish(task: Task, ctx: TaskContext) -> Outcome:
    """Kestra attaches metrics to the task run; here each is a task log line (no metric
    store), and the values are checked as Kestra checks them."""
    metrics = ctx.render(task.props.get("metrics") or [])
    if not isinstance(metrics, list):
        raise TaskFailed("metrics must be a list of {type, name, value, tags}")
    for metric in metrics:
        kind = str(metric.get("type", "")).lower()
        if kind not in ("counter", "timer") or not metric.get("name"):
            raise TaskFailed(f"a metric needs type counter or timer and a name, got {metric}")
        value = metric.get("value")
        tags = metric.get("tags") or {}
        shown = "".join(f" {k}={v}" for k, v in sorted(tags.items()))
        ctx.log("INFO", f"metric {kind} {metric['name']}={value}{shown}")
    return Outcome(State.SUCCESS)


def run_templated(task: Task, ctx: TaskContext) -> Outcome:
    """Render `spec`, read it as a task, run it in place: its outputs are this task's."""
    from runner.tasks import default_registry  # the registry holds this module's types
    from runner.yamlsource import YamlSyntaxError, load

    try:
        spec = load(str(ctx.render(task.props["spec"])), f"{task.id}.spec").data
    except YamlSyntaxError as err:
        raise TaskFailed(f"spec is not YAML: {err.diagnostics[0].message}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise TaskFailed("spec must render to a task: a map with a `type`")
    resolved = default_registry().resolve(spec["type"], "task")
    if resolved is None or resolved.typedef.run is None:
        raise TaskFailed(f"spec: unknown task type {spec['type']}")
    typedef = resolved.typedef
    if typedef.task_slots or typedef.task_maps or typedef.dag_slot:
        raise TaskFailed(f"spec: {typedef.name} is a flowable task; TemplatedTask runs only "
                         "runnable tasks, as in Kestra")
    if ctx.untrusted and not typedef.untrusted_ok:
        raise TaskFailed(f"spec: {typedef.name} is not allowed in an untrusted run (pull request "
                         "from a fork)")
    inner = Task(id=task.id, type=typedef.name, position=task.position,
                 props={k: v for k, v in spec.items() if k not in ("id", "type")})
    assert typedef.run is not None
    return typedef.run(inner, ctx)


def run_assert(task: Task, ctx: TaskContext) -> Outcome:
    """Every condition must render truthy; each false one is logged, then the task fails."""
    failed = 0
    for condition in task.props.get("conditions") or []:
        if not is_truthy(ctx.render(condition)):
            failed += 1
            ctx.log("ERROR", f"Assertion `{condition}` failed!")
    if failed:
        message = task.props.get("errorMessage")
        raise TaskFailed(str(ctx.render(message)) if message else f"{failed} assertion(s) failed")
    return Outcome(State.SUCCESS)


def _metric_item() -> dict[str, Any]:
    return {"type": "object", "required": ["type", "name"], "properties": {
        "type": {"type": "string", "enum": ["counter", "timer"]}, "name": {"type": "string"},
        "value": {}, "tags": {"type": "object"}}}


TYPES = (
    TypeDef(name="io.kestra.plugin.core.execution.Assert", kind="task",
            title="Fail, listing them, when some conditions are false",
            properties={"conditions": {"type": "array", "items": {"type": ["string", "boolean"]}},
                        "errorMessage": {"type": "string"}},
            required=("conditions",), run=run_assert),
    TypeDef(name="io.kestra.plugin.core.log.Fetch", kind="task",
            title="This execution's logs into a file (outputs `uri`, `size`)",
            properties={"executionId": {"type": "string"}, "namespace": {"type": "string"},
                        "flowId": {"type": "string"},
                        "tasksId": {"type": "array", "items": {"type": "string"}},
                        "level": {"type": "string", "enum": list(LEVELS)}},
            run=run_fetch, aliases=("io.kestra.core.tasks.log.Fetch",)),
    TypeDef(name="io.kestra.plugin.core.metric.Publish", kind="task",
            title="Publish counters and timers (written to the task log here)",
            properties={"metrics": {"anyOf": [{"type": "string"},
                                              {"type": "array", "items": _metric_item()}]}},
            required=("metrics",), run=run_publish),
    TypeDef(name="io.kestra.plugin.core.templating.TemplatedTask", kind="task",
            title="Run a runnable task whose YAML is rendered from an expression",
            properties={"spec": {"type": "string"}}, required=("spec",), run=run_templated,
            aliases=("io.kestra.core.tasks.templating.TemplatedTask",)),
)
