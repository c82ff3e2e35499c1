"""Sharing history between clones: `pull(repo, remote)` and `push(repo, remote)`.

Transport is the git CLI (fetch, push), so every remote git can talk to works,
with the user's credentials setup. pull fetches the remote's notes and logs
refs into temporary refs (`refs/flows/tmp/<id>/…`), merges them (merge.py,
same result as `git notes merge -s cat_sort_uniq`) and deletes the temporary
refs. push pulls first, then pushes in one atomic push: the notes ref
fast-forward only, the logs ref (a parentless snapshot) with
`--force-with-lease` on the value just merged. When another clone pushed in
between, the push is rejected and the whole round is redone.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.git.repo import GitError, git
from runner.history.merge import MergeResult, merge_remote
from runner.history.notes import NotesStore
from runner.history.records import LOGS_REF, NOTES_REF, HistoryError
from runner.ids import ulid

_REJECTED = ("[rejected]", "stale info", "non-fast-forward", "fetch first", "atomic push failed",
             "cannot lock ref", "failed to update ref", "[remote rejected]")


@dataclass(frozen=True)
class SyncResult:
    remote_notes: str | None  # the remote's notes tip we merged
    remote_logs: str | None
    merged: MergeResult
    pushed: bool = False
    attempts: int = 1


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        done = git(repo, *args, check=False)
    except GitError as err:
        raise HistoryError(err.message) from None
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def _fetch(store: NotesStore, repo: Path, remote: str) -> tuple[str | None, str | None]:
    """The remote's (notes tip, logs tip), fetched; None where the remote has none."""
    listed = _git(repo, "ls-remote", remote, NOTES_REF, LOGS_REF)
    if listed.returncode != 0:
        raise HistoryError(f"git ls-remote {remote}: {listed.stderr.strip()}")
    present = {line.split("\t")[1] for line in listed.stdout.splitlines() if "\t" in line}
    tmp = f"refs/flows/tmp/{ulid()}"
    wanted = {ref: f"{tmp}/{ref.rsplit('/', 1)[1]}" for ref in (NOTES_REF, LOGS_REF)
              if ref in present}
    if not wanted:
        return None, None
    try:
        done = _git(repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote,
                    *(f"+{ref}:{local}" for ref, local in wanted.items()))
        if done.returncode != 0:
            raise HistoryError(f"git fetch {remote}: {done.stderr.strip()}")
        with store.writing() as git:
            return (git.ref(wanted[NOTES_REF]) if NOTES_REF in wanted else None,
                    git.ref(wanted[LOGS_REF]) if LOGS_REF in wanted else None)
    finally:
        with store.writing() as git:
            for local in wanted.values():
                git.delete_ref(local)


def pull(repo: Path | str, remote: str = "origin", *, store: NotesStore | None = None) -> SyncResult:
    """Fetch the remote's history and merge it into ours (nothing is pushed)."""
    path = Path(repo)
    store = store or NotesStore(path)
    notes, logs = _fetch(store, path, remote)
    return SyncResult(notes, logs, merge_remote(store, notes, logs))


def push(repo: Path | str, remote: str = "origin", *, store: NotesStore | None = None,
         retries: int = 10, on_merged: Callable[[int], None] | None = None) -> SyncResult:
    """Pull, then push our history fast-forward; redone when another clone pushed first.

    on_merged(attempt) runs between the merge and the push (a seam for race tests).
    """
    path = Path(repo)
    store = store or NotesStore(path)
    atomic = ["--atomic"]
    for attempt in range(1, retries + 1):
        pulled = pull(path, remote, store=store)
        if on_merged is not None:
            on_merged(attempt)
        with store.writing() as git:
            notes, logs = git.ref(NOTES_REF), git.ref(LOGS_REF)
        options, refspecs = [], []
        if notes is not None and notes != pulled.remote_notes:
            refspecs.append(f"{NOTES_REF}:{NOTES_REF}")
        if logs is not None and logs != pulled.remote_logs:
            options.append(f"--force-with-lease={LOGS_REF}:{pulled.remote_logs or ''}")
            refspecs.append(f"{LOGS_REF}:{LOGS_REF}")
        if not refspecs:
            return SyncResult(pulled.remote_notes, pulled.remote_logs, pulled.merged,
                              attempts=attempt)
        done = _git(path, "push", "--quiet", *atomic, *options, remote, *refspecs)
        if done.returncode == 0:
            return SyncResult(pulled.remote_notes, pulled.remote_logs, pulled.merged, True, attempt)
        if "does not support --atomic" in done.stderr and atomic:
            atomic = []
            continue
        if not any(word in done.stderr for word in _REJECTED):
            raise HistoryError(f"git push {remote}: {done.stderr.strip()}")
        time.sleep(random.uniform(0.01, 0.05 * attempt))
    raise HistoryError(f"git push {remote}: still racing other pushes after {retries} attempts")
