"""The server commands: `flows serve`, `flows worker`, `flows workers` (added to the
`flows` group by runner.cli.main). The server itself is found through the
`gitflows.server` entry point (webhooks/faces.py): runner/ never imports webhooks/."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runner.cli.choices import EXECUTORS
from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.ports.server import ServerFace


def _echo(message: str) -> None:
    click.echo(message, err=True)


def _repo_pairs(repos: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(name, location) of each --repo NAME=PATH_OR_URL."""
    pairs = []
    for item in repos:
        name, sep, location = item.partition("=")
        if not sep or not name or not location:
            raise UsageError(f"--repo expects NAME=PATH, got '{item}'")
        pairs.append((name, location))
    return tuple(pairs)


def _server() -> ServerFace:
    from importlib.metadata import entry_points

    found = entry_points(group="gitflows.server", name="server")
    for entry in found:
        face: ServerFace = entry.load()
        return face
    raise UsageError("the server is not installed (reinstall gitflows: pip install -e .)")


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              help="Server configuration (YAML); flags override it.")
@click.option("--repo", "repos", multiple=True, metavar="NAME=PATH",
              help="A repository to serve; repeat for several. Default: the one started in.")
@click.option("--port", type=int, help="HTTP port (default 8080).")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="Data directory.")
@click.option("--executor", type=EXECUTORS)
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
    from runner.ports.server import ServeRequest

    _server().serve(ServeRequest(config_file, _repo_pairs(repos), port, host, data_dir, executor,
                                 poll, broker, insecure_no_auth), _echo)


@click.command()
@click.option("--broker", required=True, help="redis://HOST:6379/0, as given to `flows serve`.")
@click.option("--queues", default="default", show_default=True,
              help="Comma-separated queues (a flow's workerGroup key routes it to one).")
@click.option("--concurrency", type=click.IntRange(1), default=4, show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default=".flows-worker",
              show_default=True, help="Mirrors and indexes of this worker (one per worker).")
@click.option("--executor", type=EXECUTORS, default="auto")
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
    from runner.ports.server import WorkerRequest

    _server().worker(WorkerRequest(
        broker, tuple(q.strip() for q in queues.split(",") if q.strip()), concurrency, data_dir,
        executor, _repo_pairs(repos), heartbeat_timeout, grace, pass_env), _echo)


@click.command()
@click.option("--broker", required=True, help="redis://HOST:6379/0")
@click.option("--json", "as_json", is_flag=True)
def workers(broker: str, as_json: bool) -> None:
    """Live workers: queues, concurrency, last heartbeat, current runs."""
    click.echo(_server().workers(broker, as_json))
