"""One execution in progress: task runs, attempts, outputs, events.

Flowable tasks come back in through the TaskContext (context.py), so nested
task runs are recorded here too, each with its parent and loop value.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.durations import format_duration
from runner.engine.cancel import CancelToken
from runner.engine.execution import Attempt, Execution, TaskRunRecord
from runner.engine.retry import next_delay
from runner.engine.run_functions import RunFiles, tasks_with_state
from runner.errors import UsageError
from runner.events import Event, ExecutionStateChanged, LogLine, State, TaskRunStateChanged, worst
from runner.expressions import ExpressionError
from runner.expressions.render import Deferred
from runner.expressions.runtime import is_truthy
from runner.ids import ulid
from runner.language.inputs import nested, typed_output
from runner.model import Input, Task
from runner.ports.executor import ExecutorError
from runner.secrets import masked
from runner.tasks import Outcome, TaskFailed

if TYPE_CHECKING:
    from runner.engine.engine import Engine

LOG_LINES_KEPT = 10_000  # the latest lines of a run that log.Fetch can read
UNTRUSTED_NEEDS_CONTAINERS = ("not run: an untrusted run (pull request from a fork) runs its steps "
                              "only in containers, and no container engine answers here")


@dataclass(frozen=True)
class Scope:
    """Where a task runs: under which parent task run, loop values and working directory."""

    cancel: CancelToken
    parent: TaskRunRecord | None = None
    values: tuple[str, ...] = ()
    workdir: Path | None = None


@dataclass
class PendingPause:
    on_resume: Sequence[Input]
    event: threading.Event = field(default_factory=threading.Event)
    inputs: dict[str, Any] | None = None


class FlowRun:
    def __init__(self, engine: Engine, execution: Execution, workdir: Path, cancel: CancelToken,
                 trigger: Mapping[str, Any] | None = None) -> None:
        self.engine = engine
        self.execution = execution
        self.workdir = workdir
        self.cancel = cancel
        self.lock = threading.RLock()
        # the execution keeps outputs.<task> (a later re-run reuses them); a re-run starts with
        # the outputs it reuses
        self.outputs: dict[str, Any] = execution.task_outputs
        self.outputs.update(copy.deepcopy(execution.reuse))
        self.reused = {task.id for task in execution.flow.tasks} & set(execution.reuse)
        self.records = {record.id: record for record in execution.task_runs}  # by id
        self.exit_state: State | None = None
        self.final_state: State | None = None  # known before afterExecution tasks run
        self.pauses: dict[str, PendingPause] = {}
        files = RunFiles(execution.flow.namespace, self._checkout, self.handed_files)
        self.functions: dict[str, Callable[..., Any]] = {
            "secret": self._secret, "kv": self._kv, **files.functions(),
            "errorLogs": lambda: [dict(e) for e in self.error_logs],
            "tasksWithState": self._tasks_with_state}
        self.error_logs: list[dict[str, Any]] = []  # Kestra's errorLogs(): for `errors` branches
        self.log_lines: deque[dict[str, Any]] = deque(maxlen=LOG_LINES_KEPT)  # for log.Fetch
        self.secrets: set[str] = execution.secrets  # shared: the execution's views mask them
        self.secrets.update(str(execution.inputs[i]) for i in execution.secret_inputs()
                            if execution.inputs.get(i))
        flow = execution.flow
        self.base_context: dict[str, Any] = {
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "inputs": nested(execution.inputs),
            "vars": dict(flow.variables),
            "labels": execution.labels,
            "envs": {k[4:].lower(): v for k, v in engine.environ.items() if k.startswith("ENV_")},
            "trigger": dict(trigger or {}),
        }

    # -- expressions ----------------------------------------------------------
    def render(self, value: Any, context: Mapping[str, Any], *, time_limit: float | None = None,
               cancelled: Callable[[], bool] | None = None) -> Any:
        return self.engine.renderer.render(value, context, self.functions, time_limit=time_limit,
                                           cancelled=cancelled)

    def _secret(self, name: str) -> str:
        if self.engine.executors.untrusted:
            raise PermissionError("secrets are not available to untrusted runs (fork pull requests)")
        value = self.engine.secrets.get(str(name))
        if value is None:
            raise LookupError(f"secret '{name}' is not set (SECRET_{name} base64 in the "
                              "environment, or the secrets file)")
        with self.lock:
            self.secrets.add(value)
        return value

    def _kv(self, key: str, namespace: str | None = None, errorOnMissing: bool = True) -> Any:
        if self.engine.executors.untrusted:  # the KV store is shared with trusted runs
            raise PermissionError("the KV store is not available to untrusted runs (pull "
                                  "requests from forks)")
        ns = namespace or self.execution.flow.namespace
        value = self.engine.kv.get(ns, str(key))
        if value is None and errorOnMissing:
            raise LookupError(f"no key '{key}' in the KV store of namespace {ns}")
        return value

    def _checkout(self) -> Path | None:
        files = self.engine.namespace_files
        return None if files is None else files.root

    def outputs_now(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.outputs)

    def labels_now(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.execution.labels)

    def _task_states(self) -> dict[str, Any]:
        with self.lock:
            return task_states(self.execution.task_runs)

    def _tasks_with_state(self, state: str) -> list[dict[str, Any]]:
        return tasks_with_state(self._task_states(), state)

    def add_record(self, record: TaskRunRecord) -> None:
        with self.lock:
            self.execution.task_runs.append(record)
            self.records[record.id] = record

    def handed_files(self) -> list[Path]:
        """Where the files this run may read live: its own output files, those of the
        execution that started it (a subflow reads its parent's, e.g. ForEachItem batches)
        and, trusted runs only, its trigger's files."""
        artifacts = self.engine.data_dir / "artifacts"
        parent = str(self.base_context["trigger"].get("executionId") or "")
        return [artifacts / self.execution.id,
                *((artifacts / parent,) if parent.isalnum() else ()),  # an id, never a path
                *(() if self.engine.executors.untrusted else (self.engine.data_dir / "triggers",))]

    # -- events ---------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.engine.clock.now()

    def emit(self, event: Event) -> None:
        with self.lock:  # sinks see one event at a time, in order, even from parallel branches
            self.engine.sink.emit(event)

    def set_state(self, state: State) -> None:
        with self.lock:
            at = self.now()
            self.execution.state.set(state, at)
            self.emit(ExecutionStateChanged(self.execution.id, self.execution.flow.qualified_id,
                                            state, at, **self._kept() if state.terminal else {}))

    def _kept(self) -> dict[str, Any]:
        """What history keeps of an ended run: inputs, labels and outputs, secrets masked
        (a SECRET input whole, any secret value this run saw wherever it appears)."""
        execution = self.execution
        return {"inputs": execution.shown_inputs(lambda value: masked(value, self.secrets)),
                "labels": masked(execution.labels, self.secrets),
                "outputs": masked(execution.outputs, self.secrets),
                **({"untrusted": True} if self.engine.executors.untrusted else {})}

    def set_task_state(self, record: TaskRunRecord, state: State) -> None:
        with self.lock:
            at = self.now()
            record.state.set(state, at)
            if record.attempts and state not in (State.CREATED, State.RETRYING):
                record.attempts[-1].state.set(state, at)
            self.emit(TaskRunStateChanged(
                self.execution.id, record.id, record.task_id, record.value, len(record.attempts),
                state, at, masked(dict(record.outputs), self.secrets), record.parent_task_run_id))

    def log(self, record: TaskRunRecord | None, level: str, message: str, stream: str = "log") -> None:
        message = masked(message, self.secrets)
        at = self.now()
        line = {"taskId": record.task_id if record else None,
                "taskRunId": record.id if record else None, "level": level, "message": message,
                "timestamp": at.isoformat().replace("+00:00", "Z")}
        with self.lock:
            self.log_lines.append(line)
            if level == "ERROR" and record is not None:
                self.error_logs.append(line)
        self.emit(LogLine(
            self.execution.id, record.id if record else None, record.task_id if record else None,
            len(record.attempts) if record else 0, level, message, at, stream))

    # -- flow -----------------------------------------------------------------
    def run(self) -> None:
        flow = self.execution.flow
        scope = Scope(self.cancel)
        self.set_state(State.RUNNING)
        executors = self.engine.executors
        if executors.untrusted and executors.container is None:
            self.log(None, "ERROR", UNTRUSTED_NEEDS_CONTAINERS)
            self.set_state(State.FAILED)
            return
        state = self.run_tasks(flow.tasks, scope)
        if state.failed and flow.errors and not self.cancel.is_set():
            self.run_tasks(flow.errors, scope, after_failure=True)
        if flow.finally_:
            state = worst([state, self.run_tasks(flow.finally_, scope, after_failure=True)])
        if self.exit_state is not None:
            state = self.exit_state
        elif self.cancel.is_set():
            state = State.KILLED
        if not state.failed and flow.outputs:
            try:
                self.execution.outputs = {
                    o.id: typed_output(o, self.render(o.value, self.context(None, None)))
                    for o in flow.outputs}
            except (ExpressionError, UsageError) as err:
                self.log(None, "ERROR", f"flow outputs: {err}")
                state = State.FAILED
        if flow.after_execution:  # they see the final state and cannot change it
            self.final_state, self.exit_state = state, None
            self.run_tasks(flow.after_execution, Scope(CancelToken()), after_failure=True)
        self.set_state(state)

    def stopped(self, scope: Scope, after_failure: bool = False) -> bool:
        if self.exit_state is not None:
            return True
        return scope.cancel.is_set() and not (after_failure and not self.cancel.is_set())

    def run_tasks(self, tasks: Sequence[Task], scope: Scope, after_failure: bool = False) -> State:
        states: list[State] = []
        for task in tasks:
            if self.stopped(scope, after_failure):
                if self.exit_state is None:
                    states.append(State.KILLED)
                break
            state = self.run_task(task, scope)
            if state is not None:
                states.append(state)
                if state.failed:
                    break
        return worst(states)

    def context(self, task: Task | None, record: TaskRunRecord | None,
                scope: Scope | None = None) -> dict[str, Any]:
        ctx = dict(self.base_context)
        # each O(task runs) to copy: made only when a template names them
        ctx["outputs"], ctx["labels"] = Deferred(self.outputs_now), Deferred(self.labels_now)
        ctx["tasks"] = Deferred(self._task_states)
        current = self.final_state or self.execution.state.current
        ctx["execution"] = {"id": self.execution.id, "state": str(current),
                            "startDate": self.execution.state.start_date}
        if task is not None and record is not None:
            ctx["task"] = {"id": task.id, "type": task.type}
            ctx["taskrun"] = {"id": record.id, "value": record.value,
                              # Kestra counts the attempts before this one (0 on the first)
                              "attemptsCount": max(len(record.attempts) - 1, 0),
                              "parentId": record.parent_task_run_id,
                              "startDate": record.state.start_date}
        if scope is not None and scope.values:
            parents = [{"taskrun": {"value": v}} for v in reversed(scope.values)]
            ctx["parent"], ctx["parents"] = parents[0], parents
        return ctx

    def store_outputs(self, task_id: str, values: tuple[str, ...], outputs: dict[str, Any]) -> None:
        """outputs.<task>, or outputs.<task>[value]… inside ForEach loops (Kestra's shape)."""
        with self.lock:
            if not values:
                self.outputs[task_id] = outputs
                return
            node = self.outputs.setdefault(task_id, {})
            for value in values[:-1]:
                node = node.setdefault(value, {})
            node[values[-1]] = outputs

    # -- one task -------------------------------------------------------------
    def run_task(self, task: Task, scope: Scope) -> State | None:
        if task.disabled:
            return None
        if scope.parent is None and task.id in self.reused:  # `tasks` only, not errors/finally
            return self.reuse_task(task)
        record = TaskRunRecord(id=ulid(), task_id=task.id,
                               value=scope.values[-1] if scope.values else None,
                               parent_task_run_id=scope.parent.id if scope.parent else None)
        self.add_record(record)
        self.set_task_state(record, State.CREATED)
        if task.run_if is not None:
            try:
                verdict = self.render(task.run_if, self.context(task, record, scope))
            except ExpressionError as err:
                self.log(record, "ERROR", f"runIf: {err}")
                self.set_task_state(record, State.FAILED)
                return State.FAILED
            if not is_truthy(verdict):
                self.set_task_state(record, State.SKIPPED)
                return State.SKIPPED
        started = time.monotonic()
        while True:
            record.attempts.append(Attempt())
            self.set_task_state(record, State.RUNNING)
            outcome = self.attempt(task, record, scope)
            record.outputs = dict(outcome.outputs)
            delay = None if outcome.state is not State.FAILED else \
                next_delay(task.retry, len(record.attempts), time.monotonic() - started)
            if delay is None or self.stopped(scope):
                break
            self.set_task_state(record, State.FAILED)
            self.set_task_state(record, State.RETRYING)
            self.log(record, "WARN", f"attempt {len(record.attempts)} failed; next attempt in "
                                     f"{delay:.1f}s")
            if scope.cancel.wait(delay):
                break
        state = outcome.state
        if state is State.SUCCESS and len(record.attempts) > 1 and task.retry \
                and task.retry.warning_on_retry:
            state = State.WARNING  # Kestra: succeeded, but only after a retry
        if state is State.FAILED and task.allow_failure:
            state = State.WARNING
        elif state is State.WARNING and task.allow_warning:
            state = State.SUCCESS
        self.store_outputs(task.id, scope.values, record.outputs)
        self.set_task_state(record, state)
        return state

    def reuse_task(self, task: Task) -> State:
        """A re-run: the task succeeded in the earlier run; keep its outputs, do not run it."""
        outputs = self.execution.reuse[task.id]
        record = TaskRunRecord(id=ulid(), task_id=task.id,
                               outputs=copy.deepcopy(outputs) if isinstance(outputs, dict) else {})
        self.add_record(record)
        self.set_task_state(record, State.CREATED)
        self.log(record, "INFO", "not run again: outputs reused from the earlier run")
        self.set_task_state(record, State.SUCCESS)
        return State.SUCCESS

    def attempt(self, task: Task, record: TaskRunRecord, scope: Scope) -> Outcome:
        resolved = self.engine.registry.resolve(task.type, "task")
        if resolved is None or resolved.typedef.run is None:
            self.log(record, "ERROR", f"task type {task.type} cannot run here")
            return Outcome(State.FAILED)
        if self.engine.executors.untrusted and not resolved.typedef.untrusted_ok:
            self.log(record, "ERROR", f"{task.type} is not allowed in an untrusted run (pull "
                                      "request from a fork): it would act from inside the server, "
                                      "with its network and shared state; untrusted runs have flow "
                                      "control, logs, outputs and steps in containers")
            return Outcome(State.FAILED)
        deadline = None if task.timeout is None else time.monotonic() + task.timeout.total_seconds()
        token = CancelToken(scope.cancel, deadline=deadline)  # the context's remaining() too
        timer = None
        if task.timeout is not None:
            timer = threading.Timer(task.timeout.total_seconds(), token.cancel, args=("timeout",))
            timer.daemon = True
            timer.start()
        try:
            outcome = resolved.typedef.run(task, self.engine.task_context(self, task, record, scope,
                                                                          token))
        except (TaskFailed, ExpressionError, ExecutorError) as err:
            self.log(record, "ERROR", str(err))
            outcome = Outcome(State.FAILED)
        except OSError as err:
            self.log(record, "ERROR", f"{type(err).__name__}: {err}")
            outcome = Outcome(State.FAILED)
        finally:
            if timer is not None:
                timer.cancel()
        # a task may meet its own deadline (ctx.remaining()) before the timer thread fires
        late = deadline is not None and outcome.state.failed and time.monotonic() >= deadline
        if (token.reason == "timeout" or late) and not scope.cancel.is_set():
            assert task.timeout is not None
            self.log(record, "ERROR", f"timed out after {format_duration(task.timeout)}; "
                                      "the attempt was killed")
            return Outcome(State.FAILED, outcome.outputs)
        return outcome


def task_states(records: Sequence[TaskRunRecord]) -> dict[str, Any]:
    """Kestra's `tasks.<id>.state` (`tasks.<id>[value].state` in loops): the latest state of
    every task run so far, e.g. SKIPPED after a false runIf."""
    found: dict[str, Any] = {}
    for record in records:
        entry = {"state": str(record.state.current)}
        if record.value is None:
            found[record.task_id] = {**found.get(record.task_id, {}), **entry}
        else:
            found.setdefault(record.task_id, {})[record.value] = entry
    return found
