"""Sidecar services (the `gitflows.docker.Services` task): what to start, what started.

No Docker here: the task layer sees these types and the ServiceHost protocol; the Docker
side (runner.executors.services) implements it.
"""

from __future__ import annotations

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
    # container port → 127.0.0.1 port on the host (empty on an internal network)
    published: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceGroup:
    """The services of one Services task run, on their own Docker network."""

    network: str
    internal: bool  # no way out of the network (untrusted runs), no published ports
    endpoints: tuple[ServiceEndpoint, ...] = ()


class ServiceError(Exception):
    """A service did not start or never became healthy; logs holds what it printed."""

    def __init__(self, message: str, logs: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.logs = dict(logs or {})


class ServiceHost(Protocol):
    def start(self, execution_id: str, group_id: str, specs: Sequence[ServiceSpec],
              internal: bool, cancel: threading.Event) -> ServiceGroup:
        """Network and containers up and healthy, or ServiceError (nothing left behind)."""
        ...

    def logs(self, group: ServiceGroup, tail: int = 50) -> dict[str, str]: ...

    def remove(self, group: ServiceGroup) -> None:
        """Remove the containers and the network (steps attached to it are detached)."""
        ...
