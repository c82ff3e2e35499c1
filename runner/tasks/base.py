"""What a task implementation sees: its Task and a TaskContext from the engine."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.events import State
from runner.executors.base import LineHandler, ProcessResult, ProcessSpec
from runner.model import Task


@dataclass(frozen=True)
class Outcome:
    state: State
    outputs: Mapping[str, Any] = field(default_factory=dict)


class TaskFailed(Exception):
    """Raised by an implementation to fail the current attempt with a message."""


class NamespaceFiles(Protocol):
    """The files a task may copy into its working directory (the repo checkout)."""

    @property
    def root(self) -> Path: ...

    def paths(self) -> list[str]: ...


class TaskContext(Protocol):
    execution_id: str
    task_run_id: str
    attempt: int
    workdir: Path
    cancel: threading.Event
    containers: bool  # may steps run in containers (engine policy and an engine answers)
    namespace_files: NamespaceFiles | None

    def render(self, value: Any) -> Any: ...

    def log(self, level: str, message: str) -> None: ...

    def run_process(self, spec: ProcessSpec, on_line: LineHandler) -> ProcessResult: ...

    def remaining(self) -> dt.timedelta | None: ...


TaskRun = Callable[[Task, TaskContext], Outcome]
