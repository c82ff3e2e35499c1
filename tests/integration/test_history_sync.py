"""push / pull of the history between clones: union of runs, git's own cat_sort_uniq merge
gives the same notes, a push race is redone, logs travel with the runs that reference them."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from runner.history.notes import NotesStore
from runner.history.records import LOGS_REF, NOTES_REF, HistoryEvent, RunFilter
from runner.history.sync import pull, push

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout


def ev(run: str, seq: int, state: str, second: int = 0, **extra: Any) -> HistoryEvent:
    return HistoryEvent(t=f"2026-01-01T00:00:{second:02d}.000Z", run=run, seq=seq, flow="ns.f",
                        state=state, **extra)


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path, Path, list[str]]:
    """A bare origin with 4 commits and two clones of it."""
    seed, origin = tmp_path / "seed", tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", str(seed)], check=True)
    for i in range(4):
        git(seed, "commit", "-q", "--allow-empty", "-m", f"c{i}")
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    a, b = tmp_path / "a", tmp_path / "b"
    for clone in (a, b):
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    return origin, a, b, git(seed, "rev-list", "--reverse", "HEAD").split()


def record(store: NotesStore, commit: str, run: str, state: str = "SUCCESS",
           second: int = 0) -> None:
    pointer = store.write_log(run, f"log of {run}\n", {"run": run})
    store.append(commit, [ev(run, 1, "RUNNING", second),
                          ev(run, 2, state, second + 1, log=pointer, dur_ms=1000)])


def notes_of(repo: Path) -> dict[str, str]:
    found = {}
    for line in git(repo, "notes", "--ref=flows", "list").splitlines():
        blob, obj = line.split()
        found[obj] = git(repo, "cat-file", "-p", blob)
    return found


def test_two_clones_recording_the_same_commit_end_with_the_union(clones: Any) -> None:
    origin, a, b, commits = clones
    store_a, store_b = NotesStore(a), NotesStore(b)
    record(store_a, commits[3], "01AAAAAAAAAAAAAAAAAAAAAAA1", second=1)
    record(store_b, commits[3], "01BBBBBBBBBBBBBBBBBBBBBBB1", "FAILED", second=2)
    record(store_b, commits[1], "01BBBBBBBBBBBBBBBBBBBBBBB2", second=3)
    assert push(a, store=store_a).pushed
    result = push(b, store=store_b)
    assert result.pushed and result.merged.logs == 1
    pulled = pull(a, store=store_a)
    assert pulled.merged.after == git(origin, "rev-parse", NOTES_REF).strip()
    runs = {s.run for s in store_a.runs(RunFilter(limit=None))}
    assert runs == {"01AAAAAAAAAAAAAAAAAAAAAAA1", "01BBBBBBBBBBBBBBBBBBBBBBB1",
                    "01BBBBBBBBBBBBBBBBBBBBBBB2"}
    assert runs == {s.run for s in store_b.runs(RunFilter(limit=None))}
    assert notes_of(a) == notes_of(b) == notes_of(origin)
    assert len(notes_of(origin)[commits[3]].splitlines()) == 4
    for run in runs:  # logs came along with the runs
        assert store_a.logs(run) == f"log of {run}\n" == store_b.logs(run)
    for repo in (a, b, origin):
        git(repo, "fsck", "--strict", "--no-dangling")
    assert not [r for r in git(a, "for-each-ref", "refs/flows/tmp").splitlines()]
    # plain git users read the history of a fresh clone
    fresh = origin.parent / "fresh"
    subprocess.run(["git", "clone", "-q", str(origin), str(fresh)], check=True)
    git(fresh, "fetch", "-q", "origin", f"{NOTES_REF}:{NOTES_REF}")
    assert "01BBBBBBBBBBBBBBBBBBBBBBB1" in git(fresh, "log", "--notes=flows", "-1", commits[3])
    assert pull(fresh).merged.after is not None
    assert NotesStore(fresh).logs("01AAAAAAAAAAAAAAAAAAAAAAA1") == "log of 01AAAAAAAAAAAAAAAAAAAAAAA1\n"


def test_our_merge_gives_what_git_notes_merge_cat_sort_uniq_gives(clones: Any) -> None:
    _, a, b, (w, x, y, z) = clones
    store_a, store_b = NotesStore(a), NotesStore(b)
    for commit, run in ((w, "W"), (x, "X"), (y, "Y"), (z, "Z")):
        store_a.append(commit, [ev(run, 1, "SUCCESS")])
    push(a, store=store_a)
    pull(b, store=store_b)
    # diverge: both change X; A deletes Y which B changes; B deletes Z which A changes; B deletes W
    store_a.append(x, [ev("XA", 1, "FAILED")])
    git(a, "notes", "--ref=flows", "remove", y)
    store_a.append(z, [ev("ZA", 1, "SUCCESS")])
    store_b.append(x, [ev("XB", 1, "SUCCESS")])
    store_b.append(y, [ev("YB", 1, "SUCCESS")])
    git(b, "notes", "--ref=flows", "remove", z)
    git(b, "notes", "--ref=flows", "remove", w)
    push(b, store=store_b)
    by_git = a.parent / "a-git"
    shutil.copytree(a, by_git)
    git(by_git, "fetch", "-q", "origin", f"+{NOTES_REF}:refs/notes/theirs")
    git(by_git, "notes", "--ref=flows", "merge", "-q", "-s", "cat_sort_uniq", "refs/notes/theirs")
    pull(a, store=store_a)
    assert notes_of(a) == notes_of(by_git)
    assert set(notes_of(a)) == {x, y, z}
    assert len(notes_of(a)[x].splitlines()) == 3
    parents = git(a, "rev-list", "--parents", "-1", NOTES_REF).split()
    assert len(parents) == 3  # a merge commit (local, remote), like git's


def test_a_push_that_loses_the_race_is_redone(clones: Any) -> None:
    origin, a, b, commits = clones
    store_a, store_b = NotesStore(a), NotesStore(b)
    record(store_a, commits[0], "01RACEAAAAAAAAAAAAAAAAAAA1")
    record(store_b, commits[0], "01RACEBBBBBBBBBBBBBBBBBBB1")

    def other_clone_pushes_first(attempt: int) -> None:
        if attempt == 1:
            assert push(b, store=store_b).pushed

    result = push(a, store=store_a, on_merged=other_clone_pushes_first)
    assert result.pushed and result.attempts == 2
    pull(b, store=store_b)
    assert notes_of(origin) == notes_of(a) == notes_of(b)
    expected = {"01RACEAAAAAAAAAAAAAAAAAAA1", "01RACEBBBBBBBBBBBBBBBBBBB1"}
    assert {s.run for s in store_b.runs()} == expected
    assert store_b.logs("01RACEAAAAAAAAAAAAAAAAAAA1") == "log of 01RACEAAAAAAAAAAAAAAAAAAA1\n"
    remote_logs = git(origin, "ls-tree", "-r", "--name-only", LOGS_REF).split()
    assert len(remote_logs) == 4  # two runs, each with log and run.json


def test_concurrent_pushes_from_four_clones_all_land(clones: Any) -> None:
    origin, a, _, commits = clones
    repos = [a.parent / f"c{i}" for i in range(4)]
    for repo in repos:
        subprocess.run(["git", "clone", "-q", str(origin), str(repo)], check=True)
    for i, repo in enumerate(repos):
        store = NotesStore(repo)
        for j in range(3):
            record(store, commits[j], f"01CONC{i}{j}{'A' * 18}", second=i * 3 + j)
    errors: list[BaseException] = []

    def sync(repo: Path) -> None:
        try:
            push(repo, retries=20)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=sync, args=(repo,)) for repo in repos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check = origin.parent / "check"
    subprocess.run(["git", "clone", "-q", str(origin), str(check)], check=True)
    pull(check)
    assert len(NotesStore(check).runs(RunFilter(limit=None))) == 12
    git(origin, "fsck", "--strict", "--no-dangling")


def test_pull_from_a_remote_without_history_is_a_no_op(clones: Any) -> None:
    _, a, _, _ = clones
    result = pull(a)
    assert (result.remote_notes, result.merged.after) == (None, None)
    assert not push(a).pushed  # nothing to push either
