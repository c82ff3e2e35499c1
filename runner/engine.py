"""The engine: runs a flow to a terminal state and emits every change as an event.

It talks only to seams (Executors, EventSink, Clock, FlowLookup, KeyValueStore);
the CLI, the server and the GitHub Action build those and share this runtime.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from runner.cancel import CancelToken
from runner.context import RunContext, resume_inputs
from runner.events import Clock, EventSink, State, SystemClock
from runner.execution import Execution, TaskRunRecord
from runner.executors.base import Executors
from runner.expressions import Renderer
from runner.ids import ulid
from runner.inputs import resolve_inputs
from runner.kv import FileKVStore
from runner.model import Flow, Task
from runner.plan import apply_plugin_defaults
from runner.run import FlowRun, Scope
from runner.secrets import Secrets
from runner.tasks import Registry, default_registry
from runner.tasks.base import KeyValueStore, NamespaceFiles


class FlowLookup(Protocol):
    def get(self, namespace: str, flow_id: str) -> Flow | None: ...


class Engine:
    def __init__(self, executors: Executors, sink: EventSink, *,
                 registry: Registry | None = None, clock: Clock | None = None,
                 environ: Mapping[str, str] | None = None, work_root: Path | None = None,
                 namespace_files: NamespaceFiles | None = None, flows: FlowLookup | None = None,
                 kv: KeyValueStore | None = None, data_dir: Path | None = None,
                 secrets: Secrets | None = None) -> None:
        self.executors = executors
        self.sink = sink
        self.registry = registry or default_registry()
        self.clock = clock or SystemClock()
        self.environ = dict(environ or {})
        self.work_root = work_root
        self.namespace_files = namespace_files
        self.flows = flows
        self.data_dir = data_dir or Path(tempfile.gettempdir()) / "gitflows-data"
        self.kv: KeyValueStore = kv or FileKVStore(self.data_dir / "kv")
        self.secrets = secrets or Secrets(self.environ)
        self.renderer = Renderer(clock=self.clock.now)
        self._lock = threading.Lock()
        self._active: dict[str, FlowRun] = {}
        self._running_by_flow: dict[str, int] = {}
        self._slot_freed = threading.Condition(self._lock)

    # -- public API -----------------------------------------------------------
    def prepare(self, flow: Flow, inputs: Mapping[str, Any] | None = None, *,
                execution_id: str | None = None,
                labels: Mapping[str, str] | None = None,
                reuse: Mapping[str, Any] | None = None) -> Execution:
        """Check inputs and create the execution; bad inputs raise UsageError, nothing runs.

        reuse (a re-run): task id → its outputs in an earlier run (`outputs.<id>`); the flow's
        `tasks` named there (top level) are marked SUCCESS with those outputs instead of
        running, the other entries (their subtasks' outputs) are restored as they were."""
        return Execution(id=execution_id or ulid(), flow=apply_plugin_defaults(flow),
                         inputs=resolve_inputs(flow, inputs or {}),
                         labels={**flow.labels, **(labels or {})}, reuse=dict(reuse or {}))

    def run(self, flow: Flow, inputs: Mapping[str, Any] | None = None, *,
            execution_id: str | None = None, labels: Mapping[str, str] | None = None,
            cancel: threading.Event | None = None,
            trigger: Mapping[str, Any] | None = None) -> Execution:
        """Run flow to a terminal state (in this thread) and return the execution."""
        execution = self.prepare(flow, inputs, execution_id=execution_id, labels=labels)
        return self.execute(execution, cancel=cancel, trigger=trigger)

    def execute(self, execution: Execution, *, cancel: threading.Event | None = None,
                trigger: Mapping[str, Any] | None = None) -> Execution:
        token = CancelToken(cancel)
        if self.work_root is not None:
            self.work_root.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"gitflows-{execution.id}-", dir=self.work_root))
        run = FlowRun(self, execution, workdir, token, trigger)
        with self._lock:
            self._active[execution.id] = run
        try:
            if self._acquire_slot(run):
                try:
                    run.run()
                finally:
                    self._release_slot(execution.flow)
        finally:
            with self._lock:
                self._active.pop(execution.id, None)
            self.executors.close_session(execution.id)
            shutil.rmtree(workdir, ignore_errors=True)
        return execution

    def task_context(self, run: FlowRun, task: Task, record: TaskRunRecord, scope: Scope,
                     cancel: CancelToken) -> RunContext:
        """The TaskContext of one attempt (built here: the run must not import its context)."""
        return RunContext(run, task, record, scope, cancel)

    def kill(self, execution_id: str) -> bool:
        """Kill a running execution: running steps are stopped, the state ends KILLED."""
        with self._lock:
            run = self._active.get(execution_id)
        if run is None:
            return False
        if not run.execution.state.current.terminal:
            run.set_state(State.KILLING)
        run.cancel.cancel("killed")
        return True

    def resume(self, execution_id: str, inputs: Mapping[str, Any] | None = None) -> bool:
        """Resume a PAUSED execution; onResume inputs are checked (UsageError if wrong)."""
        with self._lock:
            run = self._active.get(execution_id)
        if run is None:
            return False
        with run.lock:
            pending = next(iter(run.pauses.values()), None)
        if pending is None:
            return False
        pending.inputs = resume_inputs(pending, inputs or {}, run.execution.flow.id)
        pending.event.set()
        return True

    def active(self) -> list[str]:
        with self._lock:
            return list(self._active)

    # -- flow concurrency (limit + QUEUE | CANCEL | FAIL) ---------------------
    def _acquire_slot(self, run: FlowRun) -> bool:
        flow = run.execution.flow
        limit = flow.concurrency
        if limit is None:
            return True
        key = flow.qualified_id
        with self._lock:
            if self._running_by_flow.get(key, 0) >= limit.limit:
                if limit.behavior in ("CANCEL", "FAIL"):
                    final = State.CANCELLED if limit.behavior == "CANCEL" else State.FAILED
                    self._lock.release()
                    try:
                        run.set_state(final)
                    finally:
                        self._lock.acquire()
                    return False
                self._lock.release()
                try:
                    run.set_state(State.QUEUED)
                finally:
                    self._lock.acquire()
                while self._running_by_flow.get(key, 0) >= limit.limit:
                    self._slot_freed.wait(0.1)
            self._running_by_flow[key] = self._running_by_flow.get(key, 0) + 1
        return True

    def _release_slot(self, flow: Flow) -> None:
        if flow.concurrency is None:
            return
        with self._lock:
            self._running_by_flow[flow.qualified_id] -= 1
            self._slot_freed.notify_all()
