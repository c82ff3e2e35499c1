"""The first read of a large run history builds the run index, which takes seconds at
100k runs: that work shows its progress (the CLI on stderr, the server in its log, where
it starts indexing at boot instead of on the first page someone opens), and only once.
A real git repository with 12,000 recorded runs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from runner.history.notes import PROGRESS_EVERY, NotesStore
from runner.history.records import HistoryEvent, RunFilter
from runner.ids import ulid
from tests.conftest import Server, run_cli
from tests.integration.test_hooks import commit, git
from tests.waiting import CEILING

RUNS = 12_000


def _event(run: str, seq: int, state: str, ms: int) -> HistoryEvent:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
    return HistoryEvent(t=stamp, run=run, seq=seq, state=state, flow="demo.big", trigger="push",
                        ref="refs/heads/main", runner="test")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose notes hold RUNS runs, one note each (written in one go)."""
    repo = tmp_path_factory.mktemp("big") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "README", "big history\n", "first")
    start = int(time.time() * 1000) - RUNS * 1000
    notes = {}
    for i in range(RUNS):
        run = ulid(start + i * 1000)
        notes[os.urandom(20).hex()] = [_event(run, 1, "RUNNING", start + i * 1000),
                                       _event(run, 2, "SUCCESS", start + i * 1000 + 5)]
    writer = NotesStore(repo)  # an index in memory: the repository's own stays unbuilt
    writer.append_many(notes)
    writer.close()
    return repo


def _clone(repo: Path, clone: Path) -> Path:
    """A clone with the history: a new index to build, as after `git clone` + fetching notes."""
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "fetch", "-q", "origin",
                    "refs/notes/flows:refs/notes/flows"], check=True)
    return clone


def test_a_long_catch_up_reports_its_progress_once(big: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    store = NotesStore(big, index=tmp_path / "index.sqlite", progress=lambda *p: seen.append(p))
    try:
        assert len(store.runs()) == 50
        assert seen == [(0, RUNS), (PROGRESS_EVERY, RUNS), (2 * PROGRESS_EVERY, RUNS), (RUNS, RUNS)]
        store.runs()
        assert len(seen) == 4  # caught up: nothing to report
    finally:
        store.close()
    again = NotesStore(big, index=tmp_path / "index.sqlite", progress=lambda *p: seen.append(p))
    try:
        assert again.runs()[0].state == "SUCCESS" and len(seen) == 4  # the index was kept
    finally:
        again.close()


def test_the_cli_shows_it_on_stderr_and_keeps_stdout_the_answer(big: Path, tmp_path: Path) -> None:
    clone = _clone(big, tmp_path / "clone")
    first = run_cli("history", "--json", "--limit", "3", cwd=clone)
    assert first.returncode == 0, first.stderr
    assert [row["state"] for row in json.loads(first.stdout)] == ["SUCCESS"] * 3
    assert f"indexing the run history: {RUNS:,} notes" in first.stderr
    assert f"indexed the run history: {RUNS:,} notes" in first.stderr
    second = run_cli("history", "--json", "--limit", "3", cwd=clone)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert "index" not in second.stderr


def test_the_server_indexes_at_start_and_logs_it(big: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    server = Server(["--data", str(tmp_path / "data")], cwd=big, log=log)
    try:
        deadline = time.monotonic() + CEILING
        while f"{RUNS} notes indexed in" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        assert f"indexing {RUNS} notes" in log.read_text()
    finally:
        server.stop()


def test_a_long_catch_up_holds_up_no_writer(big: Path, tmp_path: Path) -> None:
    """Runs go on being recorded while a first read indexes a large history: the catch-up
    reads through a handle of its own. Held mid-way (at its first progress report), it
    lets an append land; the append is in the index at the next read."""
    import threading

    clone = _clone(big, tmp_path / "clone")
    head = git(clone, "rev-parse", "HEAD")
    held, go = threading.Event(), threading.Event()

    def progress(read: int, total: int) -> None:
        if read == PROGRESS_EVERY:
            held.set()
            go.wait(CEILING)

    store = NotesStore(clone, index=tmp_path / "index.sqlite", progress=progress)
    reader = threading.Thread(target=store.runs)
    reader.start()
    try:
        assert held.wait(CEILING), "the catch-up never reported"
        run = ulid()
        writer = threading.Thread(target=store.append,
                                  args=(head, [_event(run, 1, "SUCCESS", int(time.time() * 1000))]))
        writer.start()
        writer.join(CEILING / 4)
        assert not writer.is_alive(), "the append waited for the catch-up"
    finally:
        go.set()
        reader.join(CEILING)
    try:
        assert [e.state for e in store.run(run)] == ["SUCCESS"]
        assert len(store.runs(RunFilter(limit=None))) == RUNS + 1
    finally:
        store.close()
