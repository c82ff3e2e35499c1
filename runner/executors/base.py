"""The Executor seam: run one process, on the host or in a container.

Adapters (local, docker) implement it; the engine and tasks only see this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

LineHandler = Callable[[str, str], None]  # (stream "stdout"|"stderr", line without newline)


@dataclass(frozen=True)
class ProcessSpec:
    command: tuple[str, ...]
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None  # container image; ignored by the host executor
    timeout: float | None = None  # seconds; the process is killed when it passes
    pull_policy: str = "IF_NOT_PRESENT"  # IF_NOT_PRESENT | ALWAYS | NEVER
    network_mode: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class ExecutorError(Exception):
    """The executor could not start the process (no image, engine gone …)."""


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int
    timed_out: bool = False
    killed: bool = False


class Executor(Protocol):
    name: str

    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult: ...


class LineSplitter:
    """Turns arbitrary byte chunks into complete decoded lines."""

    def __init__(self, stream: str, on_line: LineHandler) -> None:
        self.stream = stream
        self.on_line = on_line
        self.buffer = b""

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.on_line(self.stream, line.rstrip(b"\r").decode("utf-8", "replace"))

    def close(self) -> None:
        if self.buffer:
            self.on_line(self.stream, self.buffer.decode("utf-8", "replace"))
            self.buffer = b""


@dataclass(frozen=True)
class Executors:
    """The host executor, and a container executor when containers are allowed."""

    host: Executor
    container: Executor | None = None

    def for_spec(self, spec: ProcessSpec) -> Executor:
        if spec.image is not None and self.container is not None:
            return self.container
        return self.host
