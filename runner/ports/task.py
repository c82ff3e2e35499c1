"""What a task implementation sees: its Task and a TaskContext from the engine.

Runnable tasks use render/log/run_process; flowable tasks also run child
tasks through the context, so the engine keeps every task run and event.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # annotations only: `flows validate` loads task types, not the engine's ports
    from runner.events import State
    from runner.model import Input, Task
    from runner.ports.cache import CacheStore
    from runner.ports.executor import LineHandler, ProcessResult, ProcessSpec

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    state: State
    outputs: Mapping[str, Any] = field(default_factory=dict)


class TaskFailed(Exception):
    """Raised by an implementation to fail the current attempt with a message."""


@dataclass(frozen=True)
class SubflowResult:
    execution_id: str
    state: State
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class RunSource:
    """Which repository (a key: the server's name for it, or a checkout's path), branch and
    commit a run is of: artifacts are kept per repository and found by branch."""
    repo: str
    branch: str | None = None
    commit: str | None = None


class NamespaceFiles(Protocol):
    """The files a task may copy into its working directory (the repo checkout)."""

    @property
    def root(self) -> Path: ...

    def paths(self) -> list[str]: ...


class KeyValueStore(Protocol):
    def get(self, namespace: str, key: str) -> Any: ...

    def set(self, namespace: str, key: str, value: Any, ttl: dt.timedelta | None = None,
            overwrite: bool = True) -> bool: ...

    def delete(self, namespace: str, key: str) -> bool: ...

    def keys(self, namespace: str) -> list[str]: ...

    def purge(self, namespace: str, pattern: str = "*", expired_only: bool = True) -> int: ...


class TaskContext(Protocol):
    execution_id: str
    task_run_id: str
    attempt: int
    cancel: threading.Event
    containers: bool  # may steps run in containers (engine policy and an engine answers)
    untrusted: bool  # a fork pull request's run: containers only, whatever the flow asks
    namespace_files: NamespaceFiles | None
    namespace: str  # the flow's namespace
    kv: KeyValueStore

    @property
    def workdir(self) -> Path:
        """The task run's working directory, made on first use (most tasks never need one)."""

    def render(self, value: Any, variables: Mapping[str, Any] | None = None) -> Any:
        """value rendered in the task's context, plus variables (an item's fields …)."""
        ...

    def log(self, level: str, message: str) -> None: ...

    def run_process(self, spec: ProcessSpec, on_line: LineHandler) -> ProcessResult: ...

    def remaining(self) -> dt.timedelta | None: ...

    def keep_artifact(self, path: Path, name: str) -> Path:
        """Copy a file out of the working directory into the run's artifacts; its new path."""
        ...

    def local_file(self, uri: str) -> Path:
        """A file this execution may read: its own outputs' files, its working directory and
        (trusted runs) its trigger's files; TaskFailed for anything else."""
        ...

    def run_source(self) -> RunSource | None:
        """The repository, branch and commit of this run; None when it has no repository."""
        ...

    def data_dir(self) -> Path:
        """The data directory every run of this face shares (artifacts between runs)."""
        ...

    def execution_files(self) -> Path:
        """The directory holding this execution's output files (storage.* tasks)."""
        ...

    def cache_store(self) -> CacheStore:
        """The step cache's store (`cache` on script tasks), scoped to this repository."""
        ...

    def execution_logs(self) -> list[dict[str, Any]]:
        """The log lines of this execution so far (log.Fetch), oldest first."""
        ...

    # -- for flowable tasks ---------------------------------------------------
    def run_tasks(self, tasks: Sequence[Task], *, value: str | None = None,
                  workdir: Path | None = None) -> State:
        """Run tasks in order as children of this task run; stop at the first failure."""
        ...

    def map_concurrently(self, fn: Callable[[T], State], items: Sequence[T], limit: int) -> list[State]:
        """fn over items on up to `limit` threads (0: all at once); no new item after a failure."""
        ...

    def pause(self, delay: dt.timedelta | None, timeout: dt.timedelta | None,
              on_resume: Sequence[Input]) -> dict[str, Any] | None:
        """PAUSED until resumed (or delay passes); the resume inputs, None if timed out."""
        ...

    def run_subflow(self, namespace: str, flow_id: str, inputs: Mapping[str, Any],
                    labels: Mapping[str, str], wait: bool) -> SubflowResult: ...

    def set_labels(self, labels: Mapping[str, str]) -> None: ...

    def variables(self) -> dict[str, Any]:
        """A copy of the execution's `vars` as they are now."""
        ...

    def set_variables(self, values: Mapping[str, Any], unset: Sequence[str] = ()) -> None:
        """Change the execution's `vars` for the tasks that run after this one."""
        ...

    def publish_outputs(self, outputs: Mapping[str, Any]) -> None:
        """Make this task's outputs visible to its children before it ends (loop counters)."""
        ...

    def publish_outputs_as(self, task_id: str, outputs: Mapping[str, Any]) -> None:
        """Outputs under another id (Kestra's generated child tasks, e.g. `<id>_merge`)."""
        ...

    def exit(self, state: State) -> None:
        """End the whole execution with state once this task returns."""
        ...


TaskRun = Callable[["Task", TaskContext], Outcome]
