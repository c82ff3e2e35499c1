"""Shared SQLite files switch to WAL even while another connection or process holds them."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.sqlite_wal import use_wal
from webhooks.ingress.inbox import Inbox

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT)"


def test_set_up_waits_for_a_connection_that_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a rollback-journal file, held: WAL cannot be set now
    opener = sqlite3.connect(path, timeout=0.1, isolation_level=None, check_same_thread=False)
    errors: list[BaseException] = []

    def set_up() -> None:
        try:
            use_wal(opener, lambda db: db.execute(SCHEMA), seconds=30)
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=set_up)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive(), "set-up went ahead while the file was held"
    holder.execute("COMMIT")
    worker.join(30)
    assert not worker.is_alive() and errors == []
    assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    opener.execute("INSERT INTO t VALUES ('a', 'b')")


def test_a_file_still_held_after_the_deadline_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "held.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(opener, seconds=0.3)
    holder.execute("ROLLBACK")


def test_a_schema_error_is_not_retried(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "bad.sqlite", isolation_level=None)
    calls: list[int] = []

    def broken(d: sqlite3.Connection) -> None:
        calls.append(1)
        d.execute("CREATE TABLE oops (")

    with pytest.raises(sqlite3.OperationalError):
        use_wal(db, broken, seconds=30)
    assert calls == [1]


def _open_and_write(path: str, name: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    use_wal(db, lambda d: d.execute(SCHEMA))
    db.execute("INSERT INTO t VALUES (?, ?)", (name, "x"))


def _race(opener: Callable[[str, str, Any], None], path: str) -> None:
    """8 forked processes, p0…p7, open the new file at path at the same moment; each exits 0."""
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=opener, args=(path, f"p{i}", start)) for i in range(8)]
    for worker in workers:
        worker.start()
    start.set()  # all of them race for the first switch to WAL
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * 8


def test_processes_that_open_a_new_file_at_once_all_set_it_up(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh.sqlite")
    _race(_open_and_write, path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(r[0] for r in db.execute("SELECT k FROM t")) == sorted(f"p{i}" for i in range(8))


def _open_inbox_and_accept(path: str, name: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    inbox = Inbox(path)
    assert inbox.accept("github", name, {}, b"{}")
    inbox.close()


def test_processes_that_open_a_new_inbox_at_once_all_set_it_up(tmp_path: Path) -> None:
    """The webhook inbox sets its file up the same way (use_wal), then its schema."""
    path = str(tmp_path / "inbox.sqlite3")
    _race(_open_inbox_and_accept, path)
    inbox = Inbox(path)
    assert sorted(d.delivery_id for d in inbox.claim_batch("w", 30, 20)) == sorted(
        f"p{i}" for i in range(8))
    inbox.close()
