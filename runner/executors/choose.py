"""The executors for `--executor auto|docker|process` (CLI, server, worker, CI)."""

from __future__ import annotations

from collections.abc import Callable

from runner.errors import GitflowsError
from runner.executors.base import Executors
from runner.executors.local import LocalExecutor


def executors_for(choice: str, warn: Callable[[str], None]) -> Executors:
    """Host processes, plus Docker unless `process`; `auto` falls back to processes (warned)."""
    host = LocalExecutor()
    if choice == "process":
        warn("note: steps run as host processes, not isolated in containers")
        return Executors(host)
    from runner.executors.docker import DockerExecutor  # only when containers are wanted

    try:
        return Executors(host, DockerExecutor.connect())
    except GitflowsError:
        if choice == "docker":
            raise
        warn("warning: no Docker engine answers; steps run as host processes, not isolated "
             "in containers")
        return Executors(host)
