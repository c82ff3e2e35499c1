"""Sidecar services (the `gitflows.docker.Services` task): what to start, what started.

No Docker here: the task layer sees these types and the ServiceHost protocol; the Docker
side (runner.executors.services) implements it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ServiceSpec:
    """One named sidecar container."""

    name: str  # its host name on the run's network, and its key under `services`
    image: str
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()  # container TCP ports; the first is `port`
    health_command: tuple[str, ...] | None = None  # run inside it until it exits 0
    timeout: float = 60.0  # seconds to become healthy


@dataclass(frozen=True)
class ServiceEndpoint:
    name: str
    container_id: str
    # container port → 127.0.0.1 port on the host (empty when isolated)
    published: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceGroup:
    """The services of one Services task run, on their own Docker network."""

    network: str  # its Docker network, and the label value of its containers
    # untrusted runs: no network at all; the services and the steps share the first service's
    # loopback-only network namespace (`container:<id>`), no published ports
    isolated: bool
    endpoints: tuple[ServiceEndpoint, ...] = ()

    @property
    def step_network(self) -> str:
        """The network mode a step under these services runs with."""
        if self.isolated and self.endpoints:
            return f"container:{self.endpoints[0].container_id}"
        return self.network


def listening_ports(tables: str) -> set[int]:
    """The TCP ports in LISTEN state (0A) in /proc/net/tcp{,6} text."""
    ports = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            with contextlib.suppress(ValueError):
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if 0 <= port <= 65535:  # int() also reads "-1" or "+ff_ff"
                    ports.add(port)
    return ports


class ServiceError(Exception):
    """A service did not start or never became healthy; logs holds what it printed."""

    def __init__(self, message: str, logs: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.logs = dict(logs or {})


class ServiceHost(Protocol):
    def start(self, execution_id: str, group_id: str, specs: Sequence[ServiceSpec],
              isolated: bool, cancel: threading.Event) -> ServiceGroup:
        """Network and containers up and healthy, or ServiceError (nothing left behind)."""
        ...

    def logs(self, group: ServiceGroup, tail: int = 50) -> dict[str, str]: ...

    def remove(self, group: ServiceGroup) -> None:
        """Remove the containers and the network (steps attached to it are detached)."""
        ...
