"""`flows artifacts`: list, fetch and prune the artifacts runs published (gitflows.artifacts.*),
added to the `flows` group by runner.cli.main. Only trusted publishes are fetched here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.tasks.artifact_store import ArtifactStore


def _store(repo: str | None, data: str | None) -> tuple[ArtifactStore, Path | None]:
    """The repository's store, and its work tree when it is one (not a server's name)."""
    from runner.git.files import find_root
    from runner.session import user_data_dir
    from runner.tasks.artifact_store import ArtifactStore

    base = Path(data) if data else user_data_dir()
    if repo is not None and not Path(repo).is_dir():  # a server's name for a repository
        return ArtifactStore.for_repo(base, repo), None
    root = find_root(Path(repo) if repo else Path.cwd()).resolve()
    return ArtifactStore.for_repo(base, str(root)), root


@click.group()
@click.option("--repo", help="A work tree (default: the one started in), or the name of a "
                             "repository a server (flows serve --data) keeps artifacts for.")
@click.option("--data", type=click.Path(file_okay=False),
              help="The data directory (default: $GITFLOWS_DATA or ~/.local/share/gitflows).")
@click.pass_context
def artifacts(ctx: click.Context, repo: str | None, data: str | None) -> None:
    """Files runs published under a name (gitflows.artifacts.Upload), newest first."""
    ctx.obj = (repo, data)


@artifacts.command("list")
@click.option("--name", help="Only this artifact.")
@click.option("--branch", help="Only publishes on this branch.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per publish.")
@click.pass_obj
def list_artifacts(obj: tuple[str | None, str | None], name: str | None, branch: str | None,
                   limit: int, as_json: bool) -> None:
    """Every unexpired publish: name, branch, execution, flow, files and size."""
    store, _ = _store(*obj)
    found = store.list(name, branch, limit)
    if as_json:
        click.echo(json.dumps([a.to_json() for a in found], indent=2))
        return
    for a in found:
        trust = "" if a.trusted else "  (untrusted)"
        click.echo(f"{a.name:<24} {a.branch or '-':<20} {a.execution:<26} {a.flow:<30} "
                   f"{len(a.files):>4} files {a.size:>10} B  {a.created:%Y-%m-%d %H:%M}{trust}")


@artifacts.command("get")
@click.argument("name")
@click.option("--branch", help="Its latest publish on this branch (default: the current one).")
@click.option("--execution", help="The publish of this execution id.")
@click.option("--into", type=click.Path(file_okay=False), default=".", show_default=True,
              help="The directory to write its files into.")
@click.pass_obj
def get(obj: tuple[str | None, str | None], name: str, branch: str | None,
        execution: str | None, into: str) -> None:
    """Write an artifact's files into a directory (the latest trusted publish)."""
    from runner.git.repo import GitRepo
    from runner.tasks.artifact_store import ArtifactError
    from runner.tasks.beneath import UnsafePath, copy_into_beneath

    store, root = _store(*obj)
    if branch is None and execution is None:
        branch = GitRepo(root).current_branch() if root is not None else None
        if branch is None:
            raise UsageError("give --branch or --execution (no current branch here)")
    try:
        found = store.find(name, branch=branch, execution=execution)
        if found is None:
            raise UsageError(f"no artifact {name} for "
                             + (f"execution {execution}" if execution else f"branch {branch}"))
        target = Path(into)
        target.mkdir(parents=True, exist_ok=True)
        for stored in found.files:
            copy_into_beneath(store.blob(stored), target, stored.path)
            click.echo(str(target / stored.path))
    except (ArtifactError, UnsafePath) as err:
        raise UsageError(str(err)) from None
    click.echo(f"fetched {name} of execution {found.execution} ({len(found.files)} files)",
               err=True)


@artifacts.command()
@click.pass_obj
def prune(obj: tuple[str | None, str | None]) -> None:
    """Drop expired publishes, those a killed run left half-written, and unused content."""
    store, _ = _store(*obj)
    click.echo(f"dropped {store.prune()} publishes", err=True)
