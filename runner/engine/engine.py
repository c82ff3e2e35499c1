"""The engine: runs a flow to a terminal state and emits every change as an event.

It talks only to seams (Executors, EventSink, Clock, FlowLookup, KeyValueStore);
the CLI, the server and the GitHub Action build those and share this runtime.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runner.engine.cancel import CancelToken
from runner.engine.concurrency import Admission, FlowSlots, SlotLedger
from runner.engine.context import RunContext, resume_inputs
from runner.engine.execution import Execution, TaskRunRecord
from runner.engine.kv import FileKVStore
from runner.engine.run import FlowRun, Scope
from runner.events import Clock, EventSink, State, SystemClock
from runner.expressions import Renderer
from runner.ids import ulid
from runner.language.inputs import resolve_inputs
from runner.model import Flow, Task
from runner.ports import FlowLookup
from runner.ports.executor import Executors
from runner.ports.task import KeyValueStore, NamespaceFiles, RunSource
from runner.secrets import Secrets
from runner.tasks import Registry, default_registry


class Engine:
    def __init__(self, executors: Executors, sink: EventSink, *,
                 registry: Registry | None = None, clock: Clock | None = None,
                 environ: Mapping[str, str] | None = None, work_root: Path | None = None,
                 namespace_files: NamespaceFiles | None = None, flows: FlowLookup | None = None,
                 kv: KeyValueStore | None = None, data_dir: Path | None = None,
                 secrets: Secrets | None = None, slots: SlotLedger | None = None,
                 slot_scope: str = "",
                 source: Callable[[], RunSource | None] | None = None) -> None:
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
        # flow concurrency slots: shared by every engine of a server (one per run), so a
        # flow's limit holds across its runs; scope keeps two repositories' same ids apart
        self.slots: SlotLedger = slots if slots is not None else FlowSlots()
        self.slot_scope = slot_scope
        self.source = source  # the run's repository, branch and commit, worked out when asked

    # -- public API -----------------------------------------------------------
    def prepare(self, flow: Flow, inputs: Mapping[str, Any] | None = None, *,
                execution_id: str | None = None,
                labels: Mapping[str, str] | None = None,
                reuse: Mapping[str, Any] | None = None) -> Execution:
        """Check inputs and create the execution; bad inputs raise UsageError, nothing runs.

        reuse (a re-run): task id → its outputs in an earlier run (`outputs.<id>`); the flow's
        `tasks` named there (top level) are marked SUCCESS with those outputs instead of
        running, the other entries (their subtasks' outputs) are restored as they were."""
        return Execution(id=execution_id or ulid(), flow=flow,
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
                    self._release_slot(run)
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
        current = run.execution.state.current
        if not current.terminal and current not in (State.CREATED, State.QUEUED):
            run.set_state(State.KILLING)  # a queued run has nothing to stop: it ends KILLED
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
    def _slot_key(self, run: FlowRun) -> tuple[str, str]:
        return self.slot_scope, run.execution.flow.qualified_id

    def _acquire_slot(self, run: FlowRun) -> bool:
        """Hold one of the flow's slots (waiting QUEUED for it); False: the run ended here."""
        limit = run.execution.flow.concurrency
        if limit is None:
            return True
        key, holder = self._slot_key(run), run.execution.id
        admission = self.slots.acquire(key, holder, limit.limit, queue=limit.behavior == "QUEUE")
        if admission is Admission.GRANTED:
            return True
        if admission is Admission.REJECTED:
            final = State.CANCELLED if limit.behavior == "CANCEL" else State.FAILED
            run.log(None, "WARN" if final is State.CANCELLED else "ERROR",
                    f"flow concurrency limit {limit.limit} reached: execution {final}")
            run.set_state(final)
            return False
        run.set_state(State.QUEUED)
        run.log(None, "INFO", f"flow concurrency limit {limit.limit} reached: queued")
        if self.slots.wait(key, holder, run.cancel):
            return True
        run.set_state(State.KILLED)  # killed while queued: it left the line
        return False

    def _release_slot(self, run: FlowRun) -> None:
        if run.execution.flow.concurrency is not None:
            self.slots.release(self._slot_key(run), run.execution.id)
