"""`flows history` (with push, pull, prune), `show` and `logs`: the runs recorded in the
repository's notes, added to the `flows` group by runner.cli.main."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.errors import UsageError

if TYPE_CHECKING:
    from runner.history.notes import NotesStore


def open_store(repo: str | None) -> tuple[Path, NotesStore]:
    from runner.git.files import find_root
    from runner.history.notes import NotesStore, default_index_path

    root = find_root(Path(repo) if repo else Path.cwd())
    return root, NotesStore(root, index=default_index_path(root), progress=_indexing)


def _indexing(read: int, total: int) -> None:
    """A first read of a large history builds the run index: its progress, on stderr (stdout
    stays the answer); rewritten in place on a terminal, a line at each end otherwise."""
    if sys.stderr.isatty():  # each line at least as long as the one it overwrites
        click.echo(f"\rindexing the run history: {read:,} of {total:,} notes (once: the index "
                   "is kept)", err=True, nl=read == total)
    elif read == 0:
        click.echo(f"indexing the run history: {total:,} notes (once: the index is kept)", err=True)
    elif read == total:
        click.echo(f"indexed the run history: {total:,} notes", err=True)


@click.group(invoke_without_command=True)
@click.option("--repo", type=click.Path(file_okay=False, exists=True),
              help="The repository (default: the one started in).")
@click.option("--flow", help="Only runs of this flow (namespace.id).")
@click.option("--ref", help="Only runs for this branch (main or refs/heads/main).")
@click.option("--state", help="Only runs whose latest state is STATE (e.g. FAILED).")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="A JSON list of {run, flow, state, commit, ref, trigger, started, dur_ms}.")
@click.pass_context
def history(ctx: click.Context, repo: str | None, flow: str | None, ref: str | None,
            state: str | None, limit: int, as_json: bool) -> None:
    """Recorded runs, newest first (history lives in the repository's refs/notes/flows)."""
    ctx.obj = repo
    if ctx.invoked_subcommand is not None:
        return
    from runner.history import query

    _, store = open_store(repo)
    rows = query.history(store, flow=flow, ref=ref, state=state.upper() if state else None,
                         limit=limit)
    click.echo(json.dumps(query.history_json(rows), indent=2) if as_json
               else query.format_history(rows))


@history.command("push")
@click.argument("remote", default="origin")
@click.pass_obj
def history_push(repo: str | None, remote: str) -> None:
    """Merge the remote's history with ours and push it (fast-forward, retried on a race)."""
    from runner.history.sync import push

    root, store = open_store(repo)
    result = push(root, remote, store=store)
    click.echo(f"history pushed to {remote} ({result.attempts} attempt(s))", err=True)


@history.command("pull")
@click.argument("remote", default="origin")
@click.pass_obj
def history_pull(repo: str | None, remote: str) -> None:
    """Fetch the remote's history and merge it into ours (union of events)."""
    from runner.history.sync import pull

    root, store = open_store(repo)
    pull(root, remote, store=store)
    click.echo(f"history pulled from {remote}", err=True)


@history.command("prune")
@click.option("--keep-days", type=int, help="Drop runs older than this many days.")
@click.option("--keep-runs", type=int, help="Keep only the newest N runs.")
@click.pass_obj
def history_prune(repo: str | None, keep_days: int | None, keep_runs: int | None) -> None:
    """Drop old runs and their logs (`git gc` then reclaims the space)."""
    if keep_days is None and keep_runs is None:
        raise UsageError("give --keep-days N and/or --keep-runs N")
    _, store = open_store(repo)
    result = store.prune(keep_days=keep_days, keep_runs=keep_runs)
    click.echo(f"pruned: {result}", err=True)


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--repo", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True)
def show(run_id: str, repo: str | None, as_json: bool) -> None:
    """One recorded run: commit, trigger, state timeline, task runs (RUN may be a prefix)."""
    from runner.history import query

    _, store = open_store(repo)
    detail = query.show(store, run_id)
    click.echo(json.dumps(query.show_json(detail), indent=2) if as_json
               else query.format_show(detail))


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--repo", type=click.Path(file_okay=False, exists=True))
def logs(run_id: str, repo: str | None) -> None:
    """The log of a recorded run."""
    from runner.history import query

    _, store = open_store(repo)
    click.echo(query.logs(store, run_id), nl=False)
