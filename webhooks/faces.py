"""What `flows serve`, `flows worker` and `flows workers` do, behind the CLI's click options.

Registered as the `gitflows.server` entry point (pyproject.toml): runner/cli/ finds it
there, so runner/ never imports webhooks/ and the server stays an installable part.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from runner.executors import Executors
from runner.executors.base import passed_environment
from runner.executors.choose import executors_for
from runner.git.files import find_root
from runner.ports.server import ServeRequest, WorkerRequest

__all__ = ["FACE", "Face"]


def _executors(choice: str, pass_env: tuple[str, ...], echo: Callable[[str], None],
               environ: Mapping[str, str]) -> Executors:
    return executors_for(choice, echo, passed_environment(environ, pass_env))


class Face:
    def serve(self, request: ServeRequest, echo: Callable[[str], None]) -> None:
        from webhooks.config import RepoConfig, broker_url, load_config, parse_interval, with_overrides
        from webhooks.ingress.auth import require_auth_when_exposed
        from webhooks.server import serve as run_server

        config = with_overrides(
            load_config(Path(request.config_file) if request.config_file else None),
            port=request.port, host=request.host, executor=request.executor,
            data_dir=Path(request.data_dir) if request.data_dir else None,
            poll=parse_interval(request.poll) if request.poll else None,
            insecure_no_auth=request.insecure_no_auth or None)
        require_auth_when_exposed(config, os.environ)  # before anything starts
        if request.repos:
            config = with_overrides(config, repos=tuple(
                RepoConfig(name=name, location=location) for name, location in request.repos))
        if not config.repos:
            root = find_root(Path.cwd())
            config = with_overrides(config, repos=(RepoConfig(name=root.name, location=str(root)),))
        executors = replace(_executors(config.executor, config.pass_env, echo, os.environ),
                            allow_volumes=config.allow_volumes,
                            allow_docker_socket=config.allow_docker_socket)
        run_server(config, executors, broker_url(config, request.broker, os.environ), echo)

    def worker(self, request: WorkerRequest, echo: Callable[[str], None]) -> None:
        from webhooks.scale.commands import run_worker
        from webhooks.scale.worker import WorkerOptions

        options = WorkerOptions(queues=request.queues, concurrency=request.concurrency,
                                data_dir=Path(request.data_dir),
                                heartbeat_timeout=request.heartbeat_timeout, grace=request.grace,
                                locations=dict(request.locations))
        run_worker(request.broker, options,
                   _executors(request.executor, request.pass_env, echo, os.environ))

    def workers(self, broker: str, as_json: bool) -> str:
        from webhooks.scale.commands import workers_listing

        return workers_listing(broker, as_json)


FACE = Face()
