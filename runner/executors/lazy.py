"""Docker for `flows run`, connected when the first container step needs it.

Importing the docker SDK and connecting costs about half a second: most of the cold start
of a flow without container steps. `flows run` asks the local engine's socket for /_ping
(a few lines of HTTP, no SDK) to choose as `--executor auto` always chose, and imports the
SDK only for the first container step. The connection reaps leftovers then, as every
runner does when it connects. With `auto`, a socket that does not answer means host
processes at once (the SDK would only find out the same, 0.2 s later); a remote engine
(DOCKER_HOST not a Unix socket) is connected at once, as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runner.executors.choose import docker_services, executors_for, without_engine
from runner.executors.local import LocalExecutor
from runner.ports.executor import Executors, LineHandler, ProcessResult, ProcessSpec

if TYPE_CHECKING:
    from runner.executors.docker import DockerExecutor

DEFAULT_HOST = "unix:///var/run/docker.sock"
PING_SECONDS = 60.0  # what docker.from_env(timeout=60) waits for the engine


def docker_answers(environ: Mapping[str, str] = os.environ) -> bool | None:
    """Whether the local engine's socket answers /_ping; None for a non-Unix DOCKER_HOST."""
    host = environ.get("DOCKER_HOST") or DEFAULT_HOST
    if not host.startswith("unix://"):
        return None
    # the C module: `socket` itself would add 4 ms of enum set-up to every cold start
    import _socket

    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.settimeout(PING_SECONDS)
        conn.connect(host[len("unix://"):])
        conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        status = conn.recv(256).split(b"\r\n", 1)[0].split()
    except OSError:
        return False
    finally:
        conn.close()
    return len(status) >= 2 and status[1] == b"200"


class LazyDocker:
    """A DockerExecutor made on first use (a step, a kill, any attribute)."""

    name = "docker"

    def __init__(self) -> None:
        self._real: DockerExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> DockerExecutor:
        with self._lock:
            if self._real is None:
                from runner.executors.docker import DockerExecutor

                self._real = DockerExecutor.connect()
            return self._real

    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult:
        return self.executor().run(spec, on_line, cancel)

    def close_session(self, session: str) -> None:
        if self._real is not None:  # nothing was started before the first step
            self._real.close_session(session)

    def kill_execution(self, execution_id: str) -> list[str]:
        return self.executor().kill_execution(execution_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.executor(), name)


def executors_for_run(choice: str, warn: Callable[[str], None],
                      passed_env: Mapping[str, str] | None = None) -> Executors:
    """executors_for, with Docker connected only when a container step runs."""
    answers = docker_answers() if choice in ("auto", "docker") else None
    if choice == "auto" and answers is False:  # the SDK would only find out the same, slower
        return without_engine(warn, passed_env or {})
    if not answers:  # messages and errors as before
        return executors_for(choice, warn, passed_env)
    return Executors(LocalExecutor(), LazyDocker(), passed_env=dict(passed_env or {}),
                     services=docker_services)
