"""RunContext: the TaskContext a task gets, bound to its run, task run and scope."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runner.engine.cancel import CancelToken
from runner.engine.execution import TaskRunRecord
from runner.engine.run import FlowRun, PendingPause, Scope
from runner.errors import GitflowsError
from runner.events import State
from runner.expressions.render import Deferred
from runner.language.inputs import resolve
from runner.model import Input, Task
from runner.ports.executor import (
    EXECUTION_LABEL,
    TASK_RUN_LABEL,
    ExecutorError,
    LineHandler,
    Mount,
    ProcessResult,
    ProcessSpec,
    exposes_docker_socket,
)
from runner.ports.task import RunSource, SubflowResult, TaskFailed
from runner.tasks.beneath import copy_beneath

if TYPE_CHECKING:
    from runner.ports.cache import CacheStore
    from runner.ports.services import ServiceHost
    from runner.tasks.services import Binding

T = TypeVar("T")


class RunContext:
    def __init__(self, run: FlowRun, task: Task, record: TaskRunRecord, scope: Scope,
                 cancel: CancelToken) -> None:
        self._run = run
        self._task = task
        self._record = record
        self._scope = scope
        engine = run.engine
        self.execution_id = run.execution.id
        self.task_run_id = record.id
        self.attempt = len(record.attempts)
        self.namespace = run.execution.flow.namespace
        self._workdir: Path | None = scope.workdir  # else the run's directory / record.id
        self._workdir_made = False
        self._token = cancel
        self.cancel: threading.Event = cancel
        self.containers = engine.executors.container is not None
        self.untrusted = engine.executors.untrusted
        self.namespace_files = engine.namespace_files
        self.kv = engine.kv
        self._deadline = cancel.deadline  # the attempt's, which its timeout timer counts to
        self._context = run.context(task, record, scope)
        self._context["workingDir"] = str(self._workdir or f"{run.workdir}/{record.id}")
        self._services = self._services_binding()
        if self._services is not None:
            self._context["services"] = self._services.expressions()

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            self._workdir = self._run.workdir / self._record.id
        if not self._workdir_made:
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._workdir_made = True
        return self._workdir

    # -- runnable tasks -------------------------------------------------------
    def render(self, value: Any, variables: Mapping[str, Any] | None = None) -> Any:
        # children may have added outputs since this task started: read them at render time
        self._context["outputs"] = Deferred(self._run.outputs_now)
        self._context["labels"] = Deferred(self._run.labels_now)
        left = self.remaining()  # a task's timeout bounds rendering its properties too
        context = {**self._context, **variables} if variables else self._context
        return self._run.render(value, context, cancelled=self.cancel.is_set,
                                time_limit=left.total_seconds() if left is not None else None)

    def log(self, level: str, message: str) -> None:
        self._run.log(self._record, level, message)

    def remaining(self) -> dt.timedelta | None:
        if self._deadline is None:
            return None
        return dt.timedelta(seconds=max(0.0, self._deadline - time.monotonic()))

    def run_process(self, spec: ProcessSpec, on_line: LineHandler) -> ProcessResult:
        executors = self._run.engine.executors
        container = spec.container
        if executors.untrusted and container is None:
            raise ExecutorError("an untrusted run (pull request from a fork) runs steps only in "
                                "containers; this step asked for the host")
        if container is not None:
            if container.mounts and (executors.untrusted or not executors.allow_volumes):
                raise ExecutorError("taskRunner volumes are not allowed "
                                    + ("in an untrusted run (pull request from a fork)"
                                       if executors.untrusted else
                                       "by this server's configuration (allow_volumes)"))
            if any(exposes_docker_socket(m.source) for m in container.mounts) \
                    and not executors.allow_docker_socket:
                raise ExecutorError("mounting the Docker socket gives a step control of the host; "
                                    "it needs allow_docker_socket in the server configuration")
            if executors.untrusted:  # fork pull requests get no network
                container = replace(container, network_mode="none")
            if self._services is not None and (container.network_mode is None
                                               or executors.untrusted):
                # the services' network (untrusted: their loopback only, nothing else)
                container = replace(container, network_mode=self._services.group.step_network)
        # a step sees the flow's env and what the operator passes (pass_env), never the
        # environment of the process running it; untrusted runs get no passed variables
        env = {**({} if executors.untrusted else executors.passed_env), **spec.env}
        if self._services is not None:
            in_container = container is not None and executors.container is not None
            env = {**self._services.env(in_container), **env}
        checkout = self._run.engine.namespace_files
        if checkout is not None:  # the repository at the run's commit, read-only for steps
            root = checkout.root.resolve()
            env.setdefault("GITFLOWS_CHECKOUT", str(root))
            if container is not None:
                container = replace(container, mounts=(*container.mounts,
                                                       Mount(root, str(root), read_only=True)))
        labels = {EXECUTION_LABEL: self.execution_id, TASK_RUN_LABEL: self.task_run_id}
        spec = replace(spec, container=container, env=env, labels={**spec.labels, **labels},
                       session=self.execution_id, share_root=self._run.workdir)
        executor = executors.for_spec(spec)
        if container is not None:
            self.log("DEBUG", f"running in {container.image} ({executor.name})")
        return executor.run(spec, on_line, self.cancel)

    # -- sidecar services (gitflows.docker.Services, runner/tasks/services.py) ----
    def service_host(self) -> ServiceHost:
        connect = self._run.engine.executors.services
        if connect is None:
            raise TaskFailed("services need a Docker engine, and this runner has none")
        try:
            return connect()
        except GitflowsError as err:
            raise TaskFailed(str(err)) from None

    def _services_binding(self) -> Binding | None:
        """The services of the nearest Services task above this one, if any runs."""
        if self._scope.parent is None:  # a top-level task: no Services task above it
            return None
        ids: list[str] = []
        record: TaskRunRecord | None = self._scope.parent
        with self._run.lock:
            while record is not None:
                ids.append(record.id)
                record = self._run.records.get(record.parent_task_run_id or "")
        from runner.tasks.services import binding_for  # only runs that use services need it

        return binding_for(ids)

    def keep_artifact(self, path: Path, name: str) -> Path:
        target = self._run.engine.data_dir / "artifacts" / self.execution_id / self.task_run_id / name
        target.parent.mkdir(parents=True, exist_ok=True)
        steps = self._run.workdir.resolve()  # where steps write: no link is followed there
        source = path if path.is_absolute() else self.workdir / path
        lexical = Path(os.path.normpath(source))
        if lexical == steps or steps in lexical.parents:
            copy_beneath(steps, lexical.relative_to(steps).as_posix(), target)
        else:
            shutil.copy2(path, target)
        return target

    def run_source(self) -> RunSource | None:
        source = self._run.engine.source
        return source() if source is not None else None

    def data_dir(self) -> Path:
        return self._run.engine.data_dir

    def execution_files(self) -> Path:
        return self._run.engine.data_dir / "artifacts" / self.execution_id

    def local_file(self, uri: str) -> Path:
        text = str(uri).removeprefix("file://")
        source = Path(text) if Path(text).is_absolute() else self.workdir / text
        target = source.resolve()
        roots = [*self._run.handed_files(), self._run.workdir]
        if target.is_file() and any(r.resolve() in target.parents for r in roots):
            return target
        raise TaskFailed(f"'{uri}' is not a file of this execution (the files of its outputs, "
                         "its working directory or its trigger)")

    def cache_store(self) -> CacheStore:
        from runner.tasks.cache_store import open_store  # only steps with a `cache` need it

        engine = self._run.engine
        return open_store(engine.environ, engine.data_dir, engine.slot_scope)

    def execution_logs(self) -> list[dict[str, Any]]:
        with self._run.lock:
            return list(self._run.log_lines)

    # -- flowable tasks -------------------------------------------------------
    def _child_scope(self, value: str | None, workdir: Path | None) -> Scope:
        values = self._scope.values + ((value,) if value is not None else ())
        return Scope(cancel=self._token, parent=self._record, values=values,
                     workdir=workdir or self._scope.workdir)

    def run_tasks(self, tasks: Sequence[Task], *, value: str | None = None,
                  workdir: Path | None = None) -> State:
        return self._run.run_tasks(tasks, self._child_scope(value, workdir))

    def map_concurrently(self, fn: Callable[[T], State], items: Sequence[T], limit: int) -> list[State]:
        if not items:
            return []
        workers = len(items) if limit <= 0 else min(limit, len(items))
        if workers == 1:
            states = []
            for item in items:
                if self.cancel.is_set() or self._run.exit_state is not None:
                    break
                states.append(fn(item))
                if states[-1].failed:
                    break
            return states
        failed = threading.Event()

        def job(item: T) -> State | None:
            if failed.is_set() or self.cancel.is_set() or self._run.exit_state is not None:
                return None
            state = fn(item)
            if state.failed:
                failed.set()
            return state

        from concurrent.futures import ThreadPoolExecutor  # parallel flows only

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gitflows-branch") as pool:
            results = list(pool.map(job, items))
        return [s for s in results if s is not None]

    def pause(self, delay: dt.timedelta | None, timeout: dt.timedelta | None,
              on_resume: Sequence[Input]) -> dict[str, Any] | None:
        run, record = self._run, self._record
        pending = PendingPause(on_resume=tuple(on_resume))
        with run.lock:
            run.pauses[record.id] = pending
        run.set_task_state(record, State.PAUSED)
        run.set_state(State.PAUSED)
        wait = delay or timeout
        deadline = None if wait is None else time.monotonic() + wait.total_seconds()
        try:
            while not pending.event.is_set() and not self.cancel.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                pending.event.wait(0.05 if left is None else min(0.05, left))
        finally:
            with run.lock:
                run.pauses.pop(record.id, None)
        if self.cancel.is_set():
            return None
        run.set_state(State.RUNNING)
        run.set_task_state(record, State.RUNNING)
        if pending.event.is_set():
            return pending.inputs or {}
        return {} if delay is not None else None

    def run_subflow(self, namespace: str, flow_id: str, inputs: Mapping[str, Any],
                    labels: Mapping[str, str], wait: bool) -> SubflowResult:
        engine = self._run.engine
        flow = engine.flows.get(namespace, flow_id) if engine.flows else None
        if flow is None:
            raise TaskFailed(f"subflow {namespace}.{flow_id} not found")
        parent = self._run.execution
        trigger = {"executionId": parent.id, "namespace": parent.flow.namespace,
                   "flowId": parent.flow.id, "flowRevision": parent.flow.revision}
        execution = engine.prepare(flow, inputs, labels=labels)
        cancel = CancelToken(self._token)
        if not wait:
            threading.Thread(target=engine.execute, args=(execution,),
                             kwargs={"cancel": cancel, "trigger": trigger}, daemon=True).start()
            return SubflowResult(execution.id, State.CREATED, {})
        engine.execute(execution, cancel=cancel, trigger=trigger)
        return SubflowResult(execution.id, execution.state.current, dict(execution.outputs))

    def set_labels(self, labels: Mapping[str, str]) -> None:
        with self._run.lock:
            self._run.execution.labels.update({str(k): str(v) for k, v in labels.items()})

    def variables(self) -> dict[str, Any]:
        with self._run.lock:
            return dict(self._run.base_context["vars"])

    def set_variables(self, values: Mapping[str, Any], unset: Sequence[str] = ()) -> None:
        with self._run.lock:  # one dict for the run: tasks that render later see the change
            variables = self._run.base_context["vars"]
            variables.update(values)
            for name in unset:
                variables.pop(name, None)

    def publish_outputs(self, outputs: Mapping[str, Any]) -> None:
        self._record.outputs = dict(outputs)
        self._run.store_outputs(self._task.id, self._scope.values, dict(outputs))

    def publish_outputs_as(self, task_id: str, outputs: Mapping[str, Any]) -> None:
        self._run.store_outputs(task_id, self._scope.values, dict(outputs))

    def exit(self, state: State) -> None:
        self._run.exit_state = state


def resume_inputs(pending: PendingPause, raw: Mapping[str, Any], flow_id: str) -> dict[str, Any]:
    """Validate onResume inputs like flow inputs (required, types, defaults)."""
    return resolve(pending.on_resume, raw, f"resuming {flow_id}")
