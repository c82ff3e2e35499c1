"""The server commands: `flows serve`, `flows worker`, `flows workers` (added to the
`flows` group by runner.cli; click is imported only in these two modules)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from runner.errors import UsageError
from runner.executors import Executors
from runner.executors.base import passed_environment
from runner.executors.choose import executors_for
from runner.git.files import find_root


def _echo(message: str) -> None:
    click.echo(message, err=True)


def _repo_pairs(repos: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, location) of each --repo NAME=PATH_OR_URL."""
    pairs = []
    for item in repos:
        name, sep, location = item.partition("=")
        if not sep or not name or not location:
            raise UsageError(f"--repo expects NAME=PATH, got '{item}'")
        pairs.append((name, location))
    return pairs


def _executors(choice: str, pass_env: tuple[str, ...] = ()) -> Executors:
    return executors_for(choice, _echo, passed_environment(os.environ, pass_env))


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              help="Server configuration (YAML); flags override it.")
@click.option("--repo", "repos", multiple=True, metavar="NAME=PATH",
              help="A repository to serve; repeat for several. Default: the one started in.")
@click.option("--port", type=int, help="HTTP port (default 8080).")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="Data directory.")
@click.option("--executor", type=click.Choice(["auto", "docker", "process"]))
@click.option("--poll", metavar="INTERVAL",
              help="Poll the repositories for new commits (e.g. 60s), for those without webhooks.")
@click.option("--broker", help="redis://… to hand runs to `flows worker` processes "
              "(overrides the config's broker).")
@click.option("--insecure-no-auth", is_flag=True,
              help="Listen beyond localhost without authentication (a proxy in front authenticates).")
def serve(config_file: str | None, repos: tuple[str, ...], port: int | None, host: str | None,
          data_dir: str | None, executor: str | None, poll: str | None, broker: str | None,
          insecure_no_auth: bool = False) -> None:
    """Serve the API and UI (http://localhost:8080) and run flows of the served repositories."""
    from webhooks.auth import require_auth_when_exposed
    from webhooks.config import RepoConfig, broker_url, load_config, parse_interval, with_overrides
    from webhooks.server import serve as run_server

    config = with_overrides(load_config(Path(config_file) if config_file else None), port=port,
                            host=host, executor=executor,
                            data_dir=Path(data_dir) if data_dir else None,
                            poll=parse_interval(poll) if poll else None,
                            insecure_no_auth=insecure_no_auth or None)
    require_auth_when_exposed(config, os.environ)  # before anything starts
    parsed = [RepoConfig(name=name, location=location) for name, location in _repo_pairs(repos)]
    if parsed:
        config = with_overrides(config, repos=tuple(parsed))
    if not config.repos:
        root = find_root(Path.cwd())
        config = with_overrides(config, repos=(RepoConfig(name=root.name, location=str(root)),))
    executors = replace(_executors(config.executor, config.pass_env),
                        allow_volumes=config.allow_volumes,
                        allow_docker_socket=config.allow_docker_socket)
    run_server(config, executors, broker_url(config, broker, os.environ), _echo)


@click.command()
@click.option("--broker", required=True, help="redis://HOST:6379/0, as given to `flows serve`.")
@click.option("--queues", default="default", show_default=True,
              help="Comma-separated queues (a flow's workerGroup key routes it to one).")
@click.option("--concurrency", type=click.IntRange(1), default=4, show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=".flows-worker",
              show_default=True, help="Mirrors and indexes of this worker (one per worker).")
@click.option("--executor", type=click.Choice(["auto", "docker", "process"]), default="auto")
@click.option("--repo", "repos", multiple=True, metavar="NAME=PATH",
              help="Where this machine finds a repository (default: the server's location).")
@click.option("--heartbeat-timeout", type=float, default=30.0, show_default=True,
              help="Seconds without heartbeat before a worker's runs go to others (same on all).")
@click.option("--grace", type=float, default=60.0, show_default=True,
              help="On SIGTERM, seconds current runs may finish in before they are handed back.")
@click.option("--pass-env", "pass_env", multiple=True, metavar="NAME",
              help="Pass this variable of the worker's environment to trusted steps; repeat.")
def worker(broker: str, queues: str, concurrency: int, data_dir: str, executor: str,
           repos: tuple[str, ...], heartbeat_timeout: float, grace: float,
           pass_env: tuple[str, ...] = ()) -> None:
    """Run the runs that `flows serve --broker` queues (on any machine reaching Redis)."""
    from webhooks.scale.commands import run_worker
    from webhooks.scale.worker import WorkerOptions

    options = WorkerOptions(queues=tuple(q.strip() for q in queues.split(",") if q.strip()),
                            concurrency=concurrency, data_dir=Path(data_dir),
                            heartbeat_timeout=heartbeat_timeout, grace=grace,
                            locations=dict(_repo_pairs(repos)))
    run_worker(broker, options, _executors(executor, pass_env))


@click.command()
@click.option("--broker", required=True, help="redis://HOST:6379/0")
@click.option("--json", "as_json", is_flag=True)
def workers(broker: str, as_json: bool) -> None:
    """Live workers: queues, concurrency, last heartbeat, current runs."""
    from webhooks.scale.commands import workers_listing

    click.echo(workers_listing(broker, as_json))
