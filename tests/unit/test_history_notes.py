"""NotesStore on real repositories: git reads what we write, fanout, CAS races, the run index."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runner.history import gitstore
from runner.history.gitstore import SPLIT_AT, Git
from runner.history.notes import NotesStore, log_path
from runner.history.records import (
    LOGS_REF,
    NOTES_REF,
    HistoryError,
    HistoryEvent,
    RunFilter,
    union_lines,
)
from tests.waiting import wait_until

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout


def make_repo(path: Path, commits: int = 2) -> list[str]:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for i in range(commits):
        git(path, "commit", "-q", "--allow-empty", "-m", f"c{i}")
    return git(path, "rev-list", "--reverse", "HEAD").split()


def ev(run: str, seq: int, state: str, second: int = 0, **extra: Any) -> HistoryEvent:
    return HistoryEvent(t=f"2026-01-01T00:00:{second:02d}.000Z", run=run, seq=seq, flow="ns.f",
                        state=state, **extra)


def fake_ids(n: int) -> list[str]:
    return [os.urandom(20).hex() for _ in range(n)]


def test_git_reads_what_we_append(tmp_path: Path) -> None:
    first, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    store.append(head, [ev("R1", 1, "RUNNING", 0, ref="main", trigger="push")])
    store.append(head, [ev("R1", 2, "SUCCESS", 3, dur_ms=3000)])
    shown = git(tmp_path, "notes", "--ref=flows", "show", head)
    expected = union_lines([ev("R1", 1, "RUNNING", 0, ref="main", trigger="push").line(),
                            ev("R1", 2, "SUCCESS", 3, dur_ms=3000).line()])
    assert shown.encode() == expected
    assert '"state":"SUCCESS"' in git(tmp_path, "log", "--notes=flows", "-1", head)
    assert git(tmp_path, "notes", "--ref=flows", "list").split() != []
    assert subprocess.run(["git", "-C", str(tmp_path), "notes", "--ref=flows", "show", first],
                          capture_output=True).returncode != 0
    git(tmp_path, "fsck", "--strict")
    [summary] = store.runs()
    assert (summary.run, summary.state, summary.commit, summary.dur_ms) == ("R1", "SUCCESS", head, 3000)
    # the notes ref is a commit chain, one commit per append, like `git notes`
    assert git(tmp_path, "rev-list", "--count", NOTES_REF).strip() == "2"


def test_appending_the_same_events_twice_changes_nothing(tmp_path: Path) -> None:
    _, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    store.append(head, [ev("R1", 1, "RUNNING")])
    tip = git(tmp_path, "rev-parse", NOTES_REF)
    store.append(head, [ev("R1", 1, "RUNNING")])
    assert git(tmp_path, "rev-parse", NOTES_REF) == tip


def test_union_with_notes_written_by_git_itself(tmp_path: Path) -> None:
    _, head = make_repo(tmp_path)
    git(tmp_path, "notes", "--ref=flows", "add", "-m", "a line written by hand", head)
    store = NotesStore(tmp_path)
    store.append(head, [ev("R1", 1, "RUNNING")])
    lines = git(tmp_path, "notes", "--ref=flows", "show", head).splitlines()
    assert sorted(lines) == lines and "a line written by hand" in lines and len(lines) == 2
    assert [s.run for s in store.runs()] == ["R1"]


def test_fanout_keeps_trees_small_and_git_still_finds_notes(tmp_path: Path) -> None:
    commits = make_repo(tmp_path, 3)
    git(tmp_path, "notes", "--ref=flows", "add", "-m", "flat note from git", commits[0])
    store = NotesStore(tmp_path)
    store.append_many({obj: [ev(f"B{i:05d}", 1, "SUCCESS")] for i, obj in enumerate(fake_ids(3000))})
    store.append(commits[1], [ev("R1", 1, "FAILED")])
    tree = Git(tmp_path).tree_of(git(tmp_path, "rev-parse", NOTES_REF).strip())
    assert tree is not None
    root = git(tmp_path, "ls-tree", tree).splitlines()
    assert len(root) <= 256 and all(line.split("\t")[1].__len__() == 2 for line in root)
    sizes = [len(git(tmp_path, "ls-tree", line.split()[2]).splitlines()) for line in root[:20]]
    assert max(sizes) <= SPLIT_AT
    assert git(tmp_path, "notes", "--ref=flows", "show", commits[0]).strip() == "flat note from git"
    assert '"run":"R1"' in git(tmp_path, "notes", "--ref=flows", "show", commits[1])
    assert len(git(tmp_path, "notes", "--ref=flows", "list").splitlines()) == 3002
    assert len(store.runs(RunFilter(limit=None))) == 3001
    git(tmp_path, "fsck", "--strict")


def test_a_directory_over_the_cap_written_earlier_is_split_by_the_next_append(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    ids = fake_ids(SPLIT_AT + 40)
    monkeypatch.setattr(gitstore, "SPLIT_AT", 4 * SPLIT_AT)  # as an older, larger cap left it
    store.append_many({obj: [ev(f"R{i:04d}", 1, "SUCCESS")] for i, obj in enumerate(ids)})
    assert len(git(tmp_path, "ls-tree", NOTES_REF).splitlines()) == SPLIT_AT + 40
    monkeypatch.undo()
    store.append(head, [ev("NEW", 1, "SUCCESS")])
    root = git(tmp_path, "ls-tree", NOTES_REF).splitlines()
    assert len(root) <= 256 and all(line.split()[1] == "tree" for line in root)
    shown = git(tmp_path, "notes", "--ref=flows", "show", ids[7]).strip()
    assert shown == ev("R0007", 1, "SUCCESS").line().decode()
    assert len(store.runs(RunFilter(limit=None))) == SPLIT_AT + 41
    git(tmp_path, "fsck", "--strict")


def test_notes_rewritten_by_git_are_still_found(tmp_path: Path) -> None:
    commits = make_repo(tmp_path, 2)
    store = NotesStore(tmp_path)
    store.append_many({obj: [ev("X", 1, "SUCCESS")] for obj in fake_ids(400)})
    store.append(commits[0], [ev("R1", 1, "RUNNING")])
    git(tmp_path, "notes", "--ref=flows", "append", "-m", "by git", commits[1])  # git rewrites
    store.append(commits[0], [ev("R1", 2, "SUCCESS", 1)])
    assert [e.state for e in store.run("R1")] == ["RUNNING", "SUCCESS"]
    assert store.note(commits[1]) == b"by git\n"


def test_a_lost_compare_and_swap_is_redone_without_losing_anything(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    store.append(head, [ev("R0", 1, "RUNNING")])
    real_cas = Git.cas
    calls = []

    def racing_cas(self: Git, name: str, new: str, old: str | None, message: str) -> bool:
        calls.append(name)
        if len(calls) == 1:  # another writer (plain git) lands first
            git(tmp_path, "notes", "--ref=flows", "add", "-m", "intruder", first)
        return real_cas(self, name, new, old, message)

    monkeypatch.setattr(Git, "cas", racing_cas)
    store.append(head, [ev("R1", 1, "RUNNING")])
    assert len(calls) == 2
    assert git(tmp_path, "notes", "--ref=flows", "show", first).strip() == "intruder"
    assert {s.run for s in store.runs()} == {"R0", "R1"}


def test_cas_refuses_a_moved_ref(tmp_path: Path) -> None:
    first, head = make_repo(tmp_path)
    g = Git(tmp_path)
    assert g.cas("refs/notes/x", first, None, "m")
    assert not g.cas("refs/notes/x", head, None, "m")  # must not exist
    assert not g.cas("refs/notes/x", head, head, "m")  # wrong old value
    assert g.cas("refs/notes/x", head, first, "m")
    assert g.ref("refs/notes/x") == head


def test_a_stale_ref_lock_left_by_a_killed_writer_is_cleared(tmp_path: Path) -> None:
    _, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    store.append(head, [ev("R0", 1, "RUNNING")])
    lock = tmp_path / ".git" / "refs" / "notes" / "flows.lock"
    lock.write_text("junk\n")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    store.append(head, [ev("R1", 1, "RUNNING")])
    assert not lock.exists()
    assert {s.run for s in store.runs()} == {"R0", "R1"}


def test_threads_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    commits = make_repo(tmp_path, 4)
    shared = NotesStore(tmp_path)

    def write(worker: int) -> None:
        store = shared if worker % 2 else NotesStore(tmp_path)
        for i in range(25):
            store.append(commits[i % 4], [ev(f"W{worker:02d}N{i:03d}", 1, "SUCCESS")])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(shared.runs(RunFilter(limit=None))) == 200
    total = sum(len(git(tmp_path, "notes", "--ref=flows", "show", c).splitlines()) for c in commits)
    assert total == 200


def test_threads_appending_to_the_same_and_to_different_commits_land_every_event_once(
        tmp_path: Path) -> None:
    commits = make_repo(tmp_path, 9)
    store = NotesStore(tmp_path)
    start = threading.Barrier(8)

    def write(worker: int) -> None:
        start.wait()
        for i in range(20):  # even calls to the shared commit, odd ones to the worker's own
            commit = commits[0] if i % 2 == 0 else commits[1 + worker]
            store.append(commit, [ev(f"W{worker}N{i:02d}", 1, "RUNNING"),
                                  ev(f"W{worker}N{i:02d}", 2, "SUCCESS", 1)])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared = git(tmp_path, "notes", "--ref=flows", "show", commits[0]).splitlines()
    assert len(shared) == len(set(shared)) == 8 * 10 * 2
    for worker in range(8):
        own = git(tmp_path, "notes", "--ref=flows", "show", commits[1 + worker]).splitlines()
        assert len(own) == len(set(own)) == 10 * 2
        assert all(f'"run":"W{worker}N' in line for line in own)
    runs = store.runs(RunFilter(limit=None))
    assert len(runs) == 160 and {s.state for s in runs} == {"SUCCESS"}
    git(tmp_path, "fsck", "--strict")


def test_appends_queued_behind_a_writer_land_in_one_notes_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commits = make_repo(tmp_path, 3)
    store = NotesStore(tmp_path)
    store.append(commits[0], [ev("R0", 1, "RUNNING")])
    before = int(git(tmp_path, "rev-list", "--count", NOTES_REF))
    appends = store._appends
    real_land = appends._land
    batches: list[int] = []

    def land(batch: list[Any]) -> list[None]:
        if not batches:  # the first writer waits until the six others have queued
            wait_until(lambda: len(appends._queue) == 6, "six queued appends")
        batches.append(len(batch))
        return real_land(batch)

    monkeypatch.setattr(appends, "_land", land)
    threads = [threading.Thread(target=store.append, args=(
        commits[w % 3], [ev(f"Q{w}", 1, "SUCCESS")])) for w in range(7)]
    threads[0].start()
    wait_until(lambda: appends._landing, "the first writer landing")
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert batches == [1, 6]  # one ref update for the six that queued up
    assert int(git(tmp_path, "rev-list", "--count", NOTES_REF)) == before + 2
    assert {s.run for s in store.runs(RunFilter(limit=None))} == {"R0"} | {f"Q{w}" for w in range(7)}


def test_a_failed_append_raises_and_leaves_the_store_usable(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    monkeypatch.setattr(Git, "cas", lambda *args: False)  # every compare-and-swap is lost
    monkeypatch.setattr(time, "sleep", lambda _: None)
    with pytest.raises(HistoryError, match="too many concurrent writers"):
        store.append(head, [ev("R1", 1, "RUNNING")])
    monkeypatch.undo()
    store.append(head, [ev("R2", 1, "RUNNING")])  # the store is not left stuck
    assert [s.run for s in store.runs()] == ["R2"]


def test_persistent_index_catches_up_with_other_writers_and_rebuilds(tmp_path: Path) -> None:
    repo, index = tmp_path / "repo", tmp_path / "data" / "index.sqlite"
    first, head = make_repo(repo)
    reader = NotesStore(repo, index=index)
    writer = NotesStore(repo)
    assert reader.runs() == []
    writer.append(head, [ev("R1", 1, "RUNNING", 1)])
    assert [s.state for s in reader.runs()] == ["RUNNING"]
    writer.append(head, [ev("R1", 2, "FAILED", 2)])
    writer.append(first, [ev("R2", 1, "SUCCESS", 3)])
    assert [(s.run, s.state) for s in reader.runs()] == [("R2", "SUCCESS"), ("R1", "FAILED")]
    git(repo, "notes", "--ref=flows", "remove", first)  # a rewrite by plain git
    assert [s.run for s in reader.runs()] == ["R1"]
    reader.close()
    again = NotesStore(repo, index=index)  # reopened: its recorded tip is current, no rebuild
    assert [s.run for s in again.runs(RunFilter(state="FAILED"))] == ["R1"]
    again.close()
    index.unlink()
    assert [s.run for s in NotesStore(repo, index=index).runs()] == ["R1"]


def test_logs_are_blobs_in_their_own_ref_and_the_pointer_reads_with_git(tmp_path: Path) -> None:
    _, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    run = "01RUNAAAAAAAAAAAAAAAAAAAZZ"
    pointer = store.write_log(run, "line one\nline two\n", {"tasks": []})
    store.append(head, [ev(run, 1, "SUCCESS", log=pointer)])
    assert git(tmp_path, "show", f"{pointer}:log") == "line one\nline two\n"
    assert git(tmp_path, "rev-parse", f"{LOGS_REF}:{log_path(run)}").strip() == pointer
    assert store.logs(run) == "line one\nline two\n"
    assert store.detail(run) == {"tasks": []}
    assert store.logs("UNKNOWN") is None
    assert git(tmp_path, "rev-list", "--count", LOGS_REF).strip() == "1"  # a snapshot, no history
    git(tmp_path, "fsck", "--strict")


def test_prune_rewrites_notes_and_drops_log_directories(tmp_path: Path) -> None:
    first, head = make_repo(tmp_path)
    store = NotesStore(tmp_path)
    for i, commit in enumerate([first, head, head]):
        run = f"01PRUNE{i:019d}"
        pointer = store.write_log(run, f"log {i}\n", {})
        store.append(commit, [ev(run, 1, "SUCCESS", i, log=pointer)])
    result = store.prune(keep_runs=1)
    assert (result.runs, result.notes, result.logs) == (2, 2, 2)
    assert [s.run for s in store.runs()] == [f"01PRUNE{2:019d}"]
    assert subprocess.run(["git", "-C", str(tmp_path), "notes", "--ref=flows", "show", first],
                          capture_output=True).returncode != 0
    assert len(git(tmp_path, "notes", "--ref=flows", "show", head).splitlines()) == 1
    assert store.logs(f"01PRUNE{0:019d}") is None and store.logs(f"01PRUNE{2:019d}") == "log 2\n"
    assert store.prune(keep_runs=1).runs == 0


def test_removing_notes_from_a_fanout_tree_leaves_no_empty_directories(tmp_path: Path) -> None:
    make_repo(tmp_path, 1)
    store = NotesStore(tmp_path)
    ids = fake_ids(SPLIT_AT + 100)
    store.append_many({obj: [ev(f"B{i:05d}", 1, "SUCCESS", i % 60)] for i, obj in enumerate(ids)})
    assert store.prune(keep_runs=10).runs == SPLIT_AT + 90
    assert len(git(tmp_path, "notes", "--ref=flows", "list").splitlines()) == 10
    trees = git(tmp_path, "ls-tree", "-r", "-t", NOTES_REF).splitlines()
    assert len([t for t in trees if " tree " in t]) <= 10  # only directories that hold a note
    git(tmp_path, "fsck", "--strict")
    assert len(store.runs(RunFilter(limit=None))) == 10
