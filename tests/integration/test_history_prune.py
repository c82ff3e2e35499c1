"""Retention: prune drops whole runs, and `git gc --prune=now` then reclaims their log blobs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from runner.history.notes import NotesStore
from runner.history.records import HistoryEvent, RunFilter

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], check=check, capture_output=True,
                          text=True, env=ENV)


def test_pruned_log_blobs_are_reclaimed_by_gc(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for i in range(2):
        git(tmp_path, "commit", "-q", "--allow-empty", "-m", f"c{i}")
    commits = git(tmp_path, "rev-list", "--reverse", "HEAD").stdout.split()
    store = NotesStore(tmp_path)
    blobs = {}
    for day in range(1, 5):
        run = f"01PRUNE{day:019d}"
        pointer = store.write_log(run, f"unique log text of run {day}\n" * 50, {"run": run})
        blobs[run] = git(tmp_path, "rev-parse", f"{pointer}:log").stdout.strip()
        store.append(commits[day % 2], [HistoryEvent(
            t=f"2026-01-0{day}T00:00:00.000Z", run=run, seq=1, flow="ns.f", state="SUCCESS",
            log=pointer)])
    git(tmp_path, "gc", "-q")  # everything packed, as in a real repository
    result = store.prune(keep_days=1.5, now=dt.datetime(2026, 1, 4, 12, tzinfo=dt.UTC))
    assert (result.runs, result.logs) == (2, 2)
    kept = [s.run for s in store.runs(RunFilter(limit=None))]
    assert kept == [f"01PRUNE{4:019d}", f"01PRUNE{3:019d}"]
    dropped = [f"01PRUNE{1:019d}", f"01PRUNE{2:019d}"]
    for run in dropped:  # still in the object store until gc
        assert git(tmp_path, "cat-file", "-e", blobs[run], check=False).returncode == 0
    git(tmp_path, "gc", "-q", "--prune=now")
    for run in dropped:
        assert git(tmp_path, "cat-file", "-e", blobs[run], check=False).returncode != 0
        assert store.logs(run) is None
    for run in kept:
        assert git(tmp_path, "cat-file", "-e", blobs[run], check=False).returncode == 0
        assert store.logs(run) == f"unique log text of run {run[-1]}\n" * 50
    fsck = git(tmp_path, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0
    shown = git(tmp_path, "notes", "--ref=flows", "show", commits[0]).stdout
    assert f"01PRUNE{4:019d}" in shown and f"01PRUNE{2:019d}" not in shown
