"""Kestra's Docker task runner properties → ContainerOptions for the executor."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.ports.executor import ContainerOptions, Mount
from runner.ports.task import TaskFailed

DOCKER_RUNNER = "io.kestra.plugin.scripts.runner.docker.Docker"
PROCESS_RUNNER = "io.kestra.plugin.core.runner.Process"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: Any, what: str) -> int:
    """'512MB', '1g', '2GiB', 1048576 → bytes (binary units, as docker reads them)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise TaskFailed(f"{what}: '{value}' is not a size such as 512MB or 2GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def wants_container(props: Mapping[str, Any]) -> bool:
    runner = props.get("taskRunner") or {}
    legacy = str(props.get("runner", "")).upper()
    return runner.get("type") != PROCESS_RUNNER and legacy != "PROCESS"


def _mounts(volumes: list[str]) -> tuple[Mount, ...]:
    mounts = []
    for item in volumes:
        source, _, rest = str(item).partition(":")
        target, _, mode = rest.partition(":")
        if not source or not target:
            raise TaskFailed(f"volumes: '{item}' is not HOST_PATH:CONTAINER_PATH[:ro|rw]")
        mounts.append(Mount(Path(source), target, read_only=mode != "rw"))
    return tuple(mounts)


def container_options(props: Mapping[str, Any], image: str) -> ContainerOptions:
    runner: Mapping[str, Any] = props.get("taskRunner") or props.get("docker") or {}
    cpu = runner.get("cpu") or {}
    memory = runner.get("memory") or {}
    entry = runner.get("entryPoint")
    return ContainerOptions(
        image=image,
        pull_policy=str(runner.get("pullPolicy", "IF_NOT_PRESENT")).upper(),
        network_mode=runner.get("networkMode"),
        cpus=float(cpu["cpus"]) if isinstance(cpu, dict) and cpu.get("cpus") else None,
        memory=parse_size(memory["memory"], "memory") if isinstance(memory, dict)
        and memory.get("memory") else None,
        memory_swap=parse_size(memory["memorySwap"], "memorySwap") if isinstance(memory, dict)
        and memory.get("memorySwap") else None,
        user=str(runner["user"]) if runner.get("user") else None,
        entrypoint=tuple(str(e) for e in entry) if isinstance(entry, list) else None,
        shm_size=parse_size(runner["shmSize"], "shmSize") if runner.get("shmSize") else None,
        mounts=_mounts(runner.get("volumes") or []),
        reuse=bool(runner.get("reuseContainer", True)),
    )
