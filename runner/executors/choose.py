"""The executors for `--executor auto|docker|process` (CLI, server, worker, CI)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from runner.errors import GitflowsError
from runner.executors.local import LocalExecutor
from runner.ports.executor import Executors
from runner.ports.services import ServiceHost


def executors_for(choice: str, warn: Callable[[str], None],
                  passed_env: Mapping[str, str] | None = None) -> Executors:
    """Host processes, plus Docker unless `process`; `auto` falls back to processes (warned)."""
    host = LocalExecutor()
    passed = dict(passed_env or {})
    if choice == "process":
        warn("note: steps run as host processes, not isolated in containers")
        return Executors(host, passed_env=passed, services=docker_services)
    from runner.executors.docker import DockerExecutor  # only when containers are wanted

    try:
        return Executors(host, DockerExecutor.connect(), passed_env=passed,
                         services=docker_services)
    except GitflowsError:
        if choice == "docker":
            raise
        warn("warning: no Docker engine answers; steps run as host processes, not isolated "
             "in containers")
        return Executors(host, passed_env=passed, services=docker_services)


def docker_services() -> ServiceHost:
    """Sidecar services run in Docker even when steps are host processes (connected when a
    Services task starts)."""
    from runner.executors.services import DockerServices

    return DockerServices.connect()
