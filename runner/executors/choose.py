"""The executors for `--executor auto|docker|process` (CLI, server, worker, CI).

A new container engine: its module in runner/executors/ and one entry in CONTAINER_ENGINES;
the CLI's choices and `auto` follow from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from runner.errors import GitflowsError
from runner.executors.local import LocalExecutor
from runner.ports.executor import Executor, Executors

if TYPE_CHECKING:
    from runner.ports.services import ServiceHost


def _docker() -> Executor:
    from runner.executors.docker import DockerExecutor  # only when containers are wanted

    return DockerExecutor.connect()


# Container engines by `--executor` name, in the order `auto` asks them.
CONTAINER_ENGINES: dict[str, Callable[[], Executor]] = {"docker": _docker}
CHOICES: tuple[str, ...] = ("auto", *CONTAINER_ENGINES, "process")
NO_ENGINE = "warning: no Docker engine answers; steps run as host processes, not isolated in containers"


def executors_for(choice: str, warn: Callable[[str], None],
                  passed_env: Mapping[str, str] | None = None) -> Executors:
    """Host processes, plus a container engine unless `process`; `auto` falls back to
    processes (warned) when no engine answers, a named engine fails instead."""
    host = LocalExecutor()
    passed = dict(passed_env or {})
    if choice == "process":
        warn("note: steps run as host processes, not isolated in containers")
        return Executors(host, passed_env=passed, services=docker_services)
    for name in CONTAINER_ENGINES if choice == "auto" else (choice,):
        try:
            return Executors(host, CONTAINER_ENGINES[name](), passed_env=passed,
                             services=docker_services)
        except GitflowsError:
            if choice != "auto":
                raise
    return without_engine(warn, passed)


def without_engine(warn: Callable[[str], None], passed_env: Mapping[str, str]) -> Executors:
    """`auto` when no engine answers: host processes, said once."""
    warn(NO_ENGINE)
    return Executors(LocalExecutor(), passed_env=dict(passed_env), services=docker_services)


def docker_services() -> ServiceHost:
    """Sidecar services run in Docker even when steps are host processes (connected when a
    Services task starts)."""
    from runner.executors.services import DockerServices

    return DockerServices.connect()
