"""The server behind `flows serve|worker|workers`, as the CLI sees it: plain requests and
the face that takes them (webhooks/faces.py, found through the `gitflows.server` entry point)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ServeRequest", "ServerFace", "WorkerRequest"]


@dataclass(frozen=True)
class ServeRequest:
    """`flows serve`'s arguments, as given (None: the configuration file's value or default)."""

    config_file: str | None = None
    repos: tuple[tuple[str, str], ...] = ()  # (name, path or URL) of each --repo
    port: int | None = None
    host: str | None = None
    data_dir: str | None = None
    executor: str | None = None
    poll: str | None = None
    broker: str | None = None
    insecure_no_auth: bool = False


@dataclass(frozen=True)
class WorkerRequest:
    """`flows worker`'s arguments."""

    broker: str
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 4
    data_dir: str = ".flows-worker"
    executor: str = "auto"
    locations: tuple[tuple[str, str], ...] = ()  # (repository, path on this machine)
    heartbeat_timeout: float = 30.0
    grace: float = 60.0
    pass_env: tuple[str, ...] = ()


class ServerFace(Protocol):
    """The server behind `flows serve|worker|workers`, registered as the `gitflows.server`
    entry point: the CLI reaches it without runner/ importing webhooks/."""

    def serve(self, request: ServeRequest, echo: Callable[[str], None]) -> None: ...

    def worker(self, request: WorkerRequest, echo: Callable[[str], None]) -> None: ...

    def workers(self, broker: str, as_json: bool) -> str: ...
