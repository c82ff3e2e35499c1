"""io.kestra.plugin.fs.local.Trigger: a watched directory through a real `flows serve`, killed
with -9 in between; each new or changed file runs once, files written while the server is
down run after the restart, MOVE and DELETE happen once the run is queued."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from runner.ports.polling import TriggerContext
from runner.tasks.fs_local import poll_local
from tests.conftest import Server, free_port, run_cli
from tests.integration.test_hooks import commit, git
from tests.waiting import CEILING

FLOW = """\
id: {id}
namespace: demo
triggers:
  - id: watch
    type: io.kestra.plugin.fs.local.Trigger
    from: {inbox}
    interval: PT0.3S
    regExp: ".*\\\\.csv"
    maxFiles: 1
    action: {action}
{extra}tasks:
  - id: parse
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - total=$(awk -F, 'NR>1 {{s+=$2}} END {{print s}}' "{{{{ trigger.files[0].uri }}}}")
      - name="{{{{ trigger.files[0].name }}}} {{{{ trigger.files[0].changeType }}}}"
      - echo "$name $total {{{{ trigger.files[0].localPath }}}}" >> {results}
"""


def _repo(tmp_path: Path, flows: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, text in flows.items():
        commit(repo, f".flows/{name}.yml", text, name)
    return repo


def _serve(tmp_path: Path, repo: Path, port: int, name: str) -> Server:
    return Server(["--repo", f"demo={repo}", "--data", str(tmp_path / "data"), "--executor", "process"],
                  port=port, log=tmp_path / f"{name}.log")


def settled(data: Path, count: int, timeout: float = CEILING) -> None:
    """Wait until the server's run queue holds count runs, all done (none to take over)."""
    deadline = time.monotonic() + timeout
    while True:
        with closing(sqlite3.connect(f"file:{data / 'runs.sqlite3'}?mode=ro", uri=True)) as db:
            states = [row[0] for row in db.execute("SELECT status FROM runs")]
        if len(states) >= count and set(states) == {"done"}:
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.1)


def _lines(path: Path, count: int, timeout: float = CEILING) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, f"waited for {count} run(s), saw {lines}"
        time.sleep(0.1)


def test_each_file_runs_once_across_kill_9(tmp_path: Path) -> None:
    inbox, results = tmp_path / "inbox", tmp_path / "results.txt"
    inbox.mkdir()
    repo = _repo(tmp_path, {"files_in": FLOW.format(id="files_in", inbox=inbox, action="NONE",
                                                     extra="", results=results)})
    (inbox / "notes.txt").write_text("not a csv")
    port = free_port()
    server = _serve(tmp_path, repo, port, "first")
    try:
        (inbox / "a.csv").write_text("h,v\nx,1\ny,2\n")
        assert _lines(results, 1) == [f"a.csv CREATE 3 {inbox / 'a.csv'}"]
        settled(tmp_path / "data", 1)
    finally:
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
    (inbox / "b.csv").write_text("h,v\nx,10\n")  # written while the server is down
    (inbox / "c.csv").write_text("h,v\nx,20\ny,30\n")
    server = _serve(tmp_path, repo, port, "second")
    try:
        _lines(results, 3)
        time.sleep(2)  # several more polls: nothing may fire again
        assert sorted(results.read_text().splitlines()) == [
            f"a.csv CREATE 3 {inbox / 'a.csv'}", f"b.csv CREATE 10 {inbox / 'b.csv'}",
            f"c.csv CREATE 50 {inbox / 'c.csv'}"]
        (inbox / "a.csv").write_text("h,v\nx,7\n")  # changed: fires again
        assert _lines(results, 4)[3] == f"a.csv UPDATE 7 {inbox / 'a.csv'}"
        settled(tmp_path / "data", 4)
        runs = json.loads(run_cli("history", "--json", cwd=repo).stdout)
        assert len(runs) == 4 and {r["state"] for r in runs} == {"SUCCESS"}
    finally:
        server.stop()


def test_move_and_delete_after_the_run_is_queued(tmp_path: Path) -> None:
    drop, bin_, archive = tmp_path / "drop", tmp_path / "bin", tmp_path / "archive"
    drop.mkdir()
    bin_.mkdir()
    moved, deleted = tmp_path / "moved.txt", tmp_path / "deleted.txt"
    repo = _repo(tmp_path, {
        "on_move": FLOW.format(id="on_move", inbox=drop, action="MOVE", results=moved,
                               extra=f"    moveDirectory: {archive}\n"),
        "on_delete": FLOW.format(id="on_delete", inbox=bin_, action="DELETE", results=deleted,
                                 extra="")})
    server = _serve(tmp_path, repo, free_port(), "serve")
    try:
        (drop / "m.csv").write_text("h,v\nx,5\n")
        (bin_ / "d.csv").write_text("h,v\nx,4\n")
        assert _lines(moved, 1) == [f"m.csv CREATE 5 {archive / 'm.csv'}"]
        assert _lines(deleted, 1) == [f"d.csv CREATE 4 {bin_ / 'd.csv'}"]
        deadline = time.monotonic() + CEILING
        while (drop / "m.csv").exists() or (bin_ / "d.csv").exists():
            assert time.monotonic() < deadline, "the files were neither moved nor deleted"
            time.sleep(0.1)
        assert (archive / "m.csv").read_text() == "h,v\nx,5\n"
        time.sleep(1.5)
        assert len(moved.read_text().splitlines()) == 1 and len(deleted.read_text().splitlines()) == 1
    finally:
        server.stop()


def _context(tmp_path: Path, props: dict[str, Any], cursor: Any) -> TriggerContext:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return TriggerContext("demo", "f", "t", props, cursor, work)


def _age(path: Path, seconds: float = 5) -> None:
    """As if written a while ago (a file written this very second waits one poll)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_crash_between_commit_and_move_fires_nothing_again(tmp_path: Path) -> None:
    inbox, archive = tmp_path / "in", tmp_path / "archive"
    (inbox / "sub").mkdir(parents=True)
    for name in ("a.csv", "sub/b.csv", "c.txt"):
        (inbox / name).write_text(name)
        _age(inbox / name)
    props = {"from": str(inbox), "recursive": True, "regExp": r".*\.csv", "action": "MOVE",
             "moveDirectory": str(archive)}
    first = poll_local(_context(tmp_path, props, None))
    files = first.events[0].variables["files"]
    assert sorted(f["path"] for f in files) == [str(inbox / "a.csv"), str(inbox / "sub/b.csv")]
    assert {Path(f["uri"]).read_text() for f in files} == {"a.csv", "sub/b.csv"}
    assert first.events[0].variables["count"] == 2
    # committed, then the process died before finish(True): the next poll only moves them
    again = poll_local(_context(tmp_path, props, first.cursor))
    assert not again.events
    assert sorted(p.name for p in archive.iterdir()) == ["a.csv", "b.csv"]
    assert (inbox / "c.txt").exists() and not (inbox / "a.csv").exists()
    assert again.cursor == {"v": 1, "files": {}}


def test_a_file_still_being_written_waits_and_on_create_ignores_changes(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "fresh.csv").write_text("partial")
    props = {"from": str(inbox), "on": "CREATE"}
    assert not poll_local(_context(tmp_path, props, None)).events  # modified this very second
    _age(inbox / "fresh.csv")
    first = poll_local(_context(tmp_path, props, None))
    assert [f["name"] for f in first.events[0].variables["files"]] == ["fresh.csv"]
    (inbox / "fresh.csv").write_text("complete now")
    _age(inbox / "fresh.csv", 2)
    assert not poll_local(_context(tmp_path, props, first.cursor)).events


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    import pytest

    for props, message in (({"from": "relative/dir"}, "absolute"),
                           ({"from": str(tmp_path / "missing")}, "not a directory"),
                           ({"from": str(tmp_path), "action": "MOVE"}, "moveDirectory"),
                           ({"from": str(tmp_path), "action": "COPY"}, "MOVE, DELETE, NONE")):
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            poll_local(_context(tmp_path, props, None))
