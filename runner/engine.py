"""The engine: runs a flow's tasks and emits every state change as an event.

It talks only to seams (Executors, EventSink, Clock); the CLI, the server and
the GitHub Action build those and share this one runtime.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.events import (
    Clock,
    EventSink,
    ExecutionStateChanged,
    LogLine,
    State,
    SystemClock,
    TaskRunStateChanged,
    worst,
)
from runner.execution import Attempt, Execution, TaskRunRecord
from runner.executors.base import (
    ExecutorError,
    Executors,
    LineHandler,
    ProcessResult,
    ProcessSpec,
)
from runner.expressions import ExpressionError, Renderer
from runner.ids import ulid
from runner.inputs import resolve_inputs
from runner.model import Flow, Retry, Task
from runner.tasks import Outcome, Registry, TaskFailed, default_registry
from runner.tasks.base import NamespaceFiles

_FALSY = frozenset({"false", "0", "-0", ""})


class Engine:
    def __init__(self, executors: Executors, sink: EventSink, *,
                 registry: Registry | None = None, clock: Clock | None = None,
                 environ: Mapping[str, str] | None = None, work_root: Path | None = None,
                 namespace_files: NamespaceFiles | None = None) -> None:
        self.executors = executors
        self.sink = sink
        self.registry = registry or default_registry()
        self.clock = clock or SystemClock()
        self.environ = dict(environ or {})
        self.work_root = work_root
        self.namespace_files = namespace_files
        self.renderer = Renderer()

    def run(self, flow: Flow, inputs: Mapping[str, Any] | None = None, *,
            execution_id: str | None = None, labels: Mapping[str, str] | None = None,
            cancel: threading.Event | None = None) -> Execution:
        """Run flow to a terminal state. Bad inputs raise UsageError before anything runs."""
        execution = Execution(
            id=execution_id or ulid(), flow=flow,
            inputs=resolve_inputs(flow, inputs or {}),
            labels={**flow.labels, **(labels or {})},
        )
        workdir = Path(tempfile.mkdtemp(prefix=f"gitflows-{execution.id}-", dir=self.work_root))
        try:
            _Run(self, execution, workdir, cancel or threading.Event()).run()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return execution


class _Run:
    """One execution in progress: its variables, outputs and task runs."""

    def __init__(self, engine: Engine, execution: Execution, workdir: Path,
                 cancel: threading.Event) -> None:
        self.engine = engine
        self.execution = execution
        self.workdir = workdir
        self.cancel = cancel
        self.outputs: dict[str, Any] = {}
        flow = execution.flow
        self.base_context: dict[str, Any] = {
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "inputs": execution.inputs,
            "vars": dict(flow.variables),
            "labels": execution.labels,
            "envs": {k[4:].lower(): v for k, v in engine.environ.items() if k.startswith("ENV_")},
            "outputs": self.outputs,
        }

    # -- events ---------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.engine.clock.now()

    def set_state(self, state: State) -> None:
        at = self.now()
        self.execution.state.set(state, at)
        self.engine.sink.emit(ExecutionStateChanged(
            self.execution.id, self.execution.flow.qualified_id, state, at))

    def set_task_state(self, record: TaskRunRecord, state: State) -> None:
        at = self.now()
        record.state.set(state, at)
        if record.attempts and state in (State.RUNNING, State.SUCCESS, State.WARNING,
                                         State.FAILED, State.KILLED):
            record.attempts[-1].state.set(state, at)
        self.engine.sink.emit(TaskRunStateChanged(
            self.execution.id, record.id, record.task_id, record.value, len(record.attempts),
            state, at, dict(record.outputs)))

    def log(self, record: TaskRunRecord | None, level: str, message: str,
            stream: str = "log") -> None:
        self.engine.sink.emit(LogLine(
            self.execution.id, record.id if record else None, record.task_id if record else None,
            len(record.attempts) if record else 0, level, message, self.now(), stream))

    # -- flow -----------------------------------------------------------------
    def run(self) -> None:
        flow = self.execution.flow
        self.set_state(State.RUNNING)
        state = self.run_tasks(flow.tasks)
        if state.failed and flow.errors:
            self.run_tasks(flow.errors)
        if flow.finally_:
            state = worst([state, self.run_tasks(flow.finally_)])
        if not state.failed and flow.outputs:
            try:
                self.execution.outputs = {
                    o.id: self.engine.renderer.render(o.value, self.context(None, None))
                    for o in flow.outputs}
            except ExpressionError as err:
                self.log(None, "ERROR", f"flow outputs: {err}")
                state = State.FAILED
        self.set_state(state)

    def run_tasks(self, tasks: tuple[Task, ...]) -> State:
        states: list[State] = []
        for task in tasks:
            if self.cancel.is_set():
                states.append(State.KILLED)
                break
            state = self.run_task(task)
            if state is not None:
                states.append(state)
                if state.failed:
                    break
        return worst(states)

    def context(self, task: Task | None, record: TaskRunRecord | None) -> dict[str, Any]:
        ctx = dict(self.base_context)
        ctx["execution"] = {"id": self.execution.id,
                            "startDate": self.execution.state.to_json()["startDate"]}
        if task is not None and record is not None:
            ctx["task"] = {"id": task.id, "type": task.type}
            ctx["taskrun"] = {"id": record.id, "value": record.value,
                              "attemptsCount": len(record.attempts)}
            ctx["workingDir"] = str(self.workdir / task.id)
        return ctx

    # -- one task -------------------------------------------------------------
    def run_task(self, task: Task) -> State | None:
        if task.disabled:
            return None
        record = TaskRunRecord(id=ulid(), task_id=task.id)
        self.execution.task_runs.append(record)
        self.set_task_state(record, State.CREATED)
        if task.run_if is not None:
            try:
                verdict = self.engine.renderer.render_text(task.run_if, self.context(task, record))
            except ExpressionError as err:
                self.log(record, "ERROR", f"runIf: {err}")
                self.set_task_state(record, State.FAILED)
                return State.FAILED
            if verdict.strip().lower() in _FALSY:
                self.set_task_state(record, State.SKIPPED)
                return State.SKIPPED
        started = time.monotonic()
        while True:
            record.attempts.append(Attempt())
            self.set_task_state(record, State.RUNNING)
            outcome = self.attempt(task, record)
            record.outputs = dict(outcome.outputs)
            delay = None if outcome.state is not State.FAILED else \
                _retry_delay(task.retry, len(record.attempts), time.monotonic() - started)
            if delay is None or self.cancel.is_set():
                break
            self.set_task_state(record, State.FAILED)
            self.set_task_state(record, State.RETRYING)
            self.log(record, "WARN", f"attempt {len(record.attempts)} failed; retrying in "
                                     f"{delay:.1f}s")
            if self.cancel.wait(delay):
                break
        state = outcome.state
        if state is State.FAILED and task.allow_failure:
            state = State.WARNING
        elif state is State.WARNING and task.allow_warning:
            state = State.SUCCESS
        self.outputs[task.id] = record.outputs
        self.set_task_state(record, state)
        return state

    def attempt(self, task: Task, record: TaskRunRecord) -> Outcome:
        resolved = self.engine.registry.resolve(task.type, "task")
        if resolved is None or resolved.typedef.run is None:
            self.log(record, "ERROR", f"task type {task.type} cannot run here")
            return Outcome(State.FAILED)
        ctx = _TaskContext(self, task, record)
        try:
            return resolved.typedef.run(task, ctx)
        except (TaskFailed, ExpressionError, ExecutorError) as err:
            self.log(record, "ERROR", str(err))
        except OSError as err:
            self.log(record, "ERROR", f"{type(err).__name__}: {err}")
        return Outcome(State.FAILED)


def _retry_delay(retry: Retry | None, attempts: int, elapsed: float) -> float | None:
    """Seconds to wait before the next attempt, or None when retries are spent."""
    if retry is None:
        return None
    if retry.max_attempts is not None and attempts >= retry.max_attempts:
        return None
    base = retry.interval.total_seconds() if retry.interval else 1.0
    if retry.type == "exponential":
        delay = base * (retry.delay_factor or 2.0) ** (attempts - 1)
        if retry.max_interval:
            delay = min(delay, retry.max_interval.total_seconds())
    elif retry.type == "random":
        low = retry.min_interval.total_seconds() if retry.min_interval else 0.0
        high = retry.max_interval.total_seconds() if retry.max_interval else base
        delay = random.uniform(low, max(low, high))
    else:
        delay = base
    if retry.max_duration is not None and elapsed + delay > retry.max_duration.total_seconds():
        return None
    return delay


class _TaskContext:
    """What a running task may use; satisfies runner.tasks.base.TaskContext."""

    def __init__(self, run: _Run, task: Task, record: TaskRunRecord) -> None:
        self._run = run
        self._task = task
        self._record = record
        self.execution_id = run.execution.id
        self.task_run_id = record.id
        self.attempt = len(record.attempts)
        self.workdir = run.workdir / task.id
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cancel = run.cancel
        self.containers = run.engine.executors.container is not None
        self.namespace_files = run.engine.namespace_files
        self._deadline = (time.monotonic() + task.timeout.total_seconds()
                          if task.timeout is not None else None)
        self._context = run.context(task, record)

    def render(self, value: Any) -> Any:
        return self._run.engine.renderer.render(value, self._context)

    def log(self, level: str, message: str) -> None:
        self._run.log(self._record, level, message)

    def remaining(self) -> dt.timedelta | None:
        if self._deadline is None:
            return None
        return dt.timedelta(seconds=max(0.0, self._deadline - time.monotonic()))

    def run_process(self, spec: ProcessSpec, on_line: LineHandler) -> ProcessResult:
        labels = {"io.gitflows.execution": self.execution_id, "io.gitflows.taskrun": self.task_run_id}
        spec = ProcessSpec(**{**spec.__dict__, "labels": {**spec.labels, **labels}})
        executor = self._run.engine.executors.for_spec(spec)
        if spec.image is not None:
            self.log("DEBUG", f"running in container {spec.image} ({executor.name})")
        return executor.run(spec, on_line, self.cancel)
