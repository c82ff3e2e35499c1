"""The Executor seam: run one process, on the host or in a container.

Adapters (runner/executors/: local, docker, agent) implement it; the engine and tasks only
see this module.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runner.ports.services import ServiceHost


__all__ = [
    "EXECUTION_LABEL",
    "TASK_RUN_LABEL",
    "ContainerOptions",
    "Executor",
    "ExecutorError",
    "Executors",
    "LineHandler",
    "Mount",
    "ProcessResult",
    "ProcessSpec",
    "exposes_docker_socket",
]

LineHandler = Callable[[str, str], None]  # (stream "stdout"|"stderr", line without newline)
EXECUTION_LABEL = "io.gitflows.execution"  # on every step: which execution it belongs to
TASK_RUN_LABEL = "io.gitflows.taskrun"


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerOptions:
    """How to run a step in a container (Kestra's Docker task runner properties)."""

    image: str
    pull_policy: str = "IF_NOT_PRESENT"  # IF_NOT_PRESENT | ALWAYS | NEVER
    network_mode: str | None = None  # None: the engine's default bridge; "none": no network
    cpus: float | None = None
    memory: int | None = None  # bytes
    memory_swap: int | None = None
    pids_limit: int | None = 4096
    user: str | None = None
    entrypoint: tuple[str, ...] | None = None
    shm_size: int | None = None  # bytes
    mounts: tuple[Mount, ...] = ()
    reuse: bool = True  # run in the run's long-lived container for this image (docker exec)


@dataclass(frozen=True)
class ProcessSpec:
    command: tuple[str, ...]
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    container: ContainerOptions | None = None  # None: run on the host
    timeout: float | None = None  # seconds; the process is killed when it passes
    labels: Mapping[str, str] = field(default_factory=dict)
    session: str | None = None  # steps of one session (a run) may share containers
    share_root: Path | None = None  # directory bind-mounted for the session (holds workdir)


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

    def close_session(self, session: str) -> None:
        """Release what steps of this session kept (long-lived containers)."""
        ...


@dataclass(frozen=True)
class Executors:
    """The host executor, and a container executor when containers are allowed."""

    host: Executor
    container: Executor | None = None
    untrusted: bool = False  # fork pull requests: containers only, no network, no secrets
    allow_volumes: bool = False  # host volumes in taskRunner.volumes (server configuration)
    allow_docker_socket: bool = False  # the Docker socket among those volumes
    # variables of the server's own environment an operator passes to trusted steps (pass_env)
    passed_env: Mapping[str, str] = field(default_factory=dict)
    # connects to the engine for sidecar services (gitflows.docker.Services); None: no Docker
    services: Callable[[], ServiceHost] | None = None

    def for_spec(self, spec: ProcessSpec) -> Executor:
        if spec.container is not None and self.container is not None:
            return self.container
        if self.untrusted:  # the last guard: an untrusted step never reaches the host
            raise ExecutorError("an untrusted run (pull request from a fork) runs steps only in "
                                "containers, and no container engine is available")
        return self.host

    def close_session(self, session: str) -> None:
        for executor in (self.host, self.container):
            if executor is not None:
                executor.close_session(session)


DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
                  "/var/run/containerd/containerd.sock", "/run/podman/podman.sock")


def exposes_docker_socket(source: Path) -> bool:
    """Whether bind-mounting source hands a step a container engine's socket: the socket
    itself (under any name or link), any other Unix socket, or a directory holding one
    of the engines' sockets (`/var/run`, `/`)."""
    try:
        resolved = source.resolve()
    except (OSError, RuntimeError):  # a link loop: refuse rather than guess
        return True
    try:
        if stat.S_ISSOCK(resolved.stat().st_mode):
            return True
    except OSError:
        pass  # a path that does not exist yet is judged by its name below
    for socket in DOCKER_SOCKETS:
        target = Path(socket).resolve()
        if resolved == target or resolved in target.parents:
            return True
    return False
