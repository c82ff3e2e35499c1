"""The durable run queue: runs decided by the dispatcher or the scheduler, kept in SQLite
until they have finished, so a server killed with SIGKILL runs them after its restart.

Each queued run has a unique key (delivery + flow, or schedule tick): enqueuing it again
does nothing. A run is claimed with a lease that the running server keeps extending; an
expired lease means its server died, and the run is claimed again (its dead attempt is
reported to the caller, who records it as KILLED).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import GitflowsError
from runner.sqlite_wal import use_wal

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, repo TEXT NOT NULL, namespace TEXT NOT NULL,
  flow_id TEXT NOT NULL, commit_id TEXT NOT NULL, trigger TEXT NOT NULL, untrusted INTEGER NOT NULL,
  inputs TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL DEFAULT 'queued', owner TEXT, lease_until REAL, execution_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, queued_at REAL NOT NULL, finished_at REAL);
CREATE TABLE IF NOT EXISTS trigger_cursors (
  trigger TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at REAL NOT NULL)
"""
_INSERT = ("INSERT OR IGNORE INTO runs (key, repo, namespace, flow_id, commit_id, trigger, "
           "untrusted, inputs, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


class StorageFullError(GitflowsError):
    """The server's data directory has no space left: nothing durable can be written."""


def is_storage_full(err: BaseException | None) -> bool:
    """err (or what caused it) says the disk or quota is full: ENOSPC/EDQUOT, SQLITE_FULL."""
    seen = 0
    while err is not None and seen < 10:  # a chain, not a cycle
        if isinstance(err, StorageFullError):
            return True
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return True
        if isinstance(err, sqlite3.Error) and (
                getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
                or "disk is full" in str(err)):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


@dataclass(frozen=True)
class QueuedRun:
    id: int
    key: str
    repo: str
    namespace: str
    flow_id: str
    commit: str
    trigger: dict[str, Any]
    untrusted: bool
    inputs: dict[str, Any]
    attempts: int
    dead_execution: str | None  # the execution of a previous claim whose server died


@dataclass(frozen=True)
class NewRun:
    key: str
    repo: str
    namespace: str
    flow_id: str
    commit: str
    trigger: dict[str, Any]
    untrusted: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)


def _insert(conn: sqlite3.Connection, run: NewRun, now: float) -> int:
    """Queue one run in conn's transaction: 1 when added, 0 when its key was queued before."""
    return int(conn.execute(_INSERT, (run.key, run.repo, run.namespace, run.flow_id, run.commit,
                                      json.dumps(run.trigger, default=str), int(run.untrusted),
                                      json.dumps(run.inputs, default=str), now)).rowcount)


class RunQueue:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._writer = threading.Lock()
        with self._write() as conn:
            for statement in _SCHEMA.split(";"):
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        if getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            use_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA busy_timeout = 30000")
            self._local.conn, self._local.pid = conn, os.getpid()
        connection: sqlite3.Connection = self._local.conn
        return connection

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._writer:  # this process's threads wait here, not in SQLite's busy sleeps
            try:
                conn = self._conn()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    # SQLite has rolled back already after some errors (SQLITE_FULL): a
                    # second ROLLBACK would hide the cause behind "cannot rollback"
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
            except (OSError, sqlite3.Error) as err:
                if is_storage_full(err):
                    raise StorageFullError(f"the run queue {self.path} cannot be written: no "
                                           "space left on its device") from err
                raise

    def enqueue(self, key: str, repo: str, namespace: str, flow_id: str, commit: str,
                trigger: dict[str, Any], untrusted: bool = False,
                inputs: dict[str, Any] | None = None) -> bool:
        """Queue a run; False when a run with this key was queued before (whatever its state)."""
        run = NewRun(key, repo, namespace, flow_id, commit, trigger, untrusted, inputs or {})
        with self._write() as conn:
            return _insert(conn, run, time.time()) == 1

    def enqueue_many(self, runs: list[NewRun]) -> list[bool]:
        """enqueue() for many runs in one transaction (all or none), in order: for each,
        whether it was added now (False: its key was queued before)."""
        if not runs:
            return []
        now = time.time()
        with self._write() as conn:
            return [_insert(conn, run, now) == 1 for run in runs]

    def enqueue_batch(self, runs: list[NewRun], trigger_key: str, cursor: Any) -> int:
        """Queue an event trigger's runs and save its cursor in one transaction (all or
        nothing: see runner.ports.polling); a cursor of None keeps the saved one. The number of
        runs added (runs whose key was queued before are left out)."""
        now = time.time()
        with self._write() as conn:
            added = sum(_insert(conn, run, now) for run in runs)
            if cursor is not None:
                conn.execute("INSERT INTO trigger_cursors (trigger, cursor, updated_at) VALUES "
                             "(?, ?, ?) ON CONFLICT(trigger) DO UPDATE SET cursor = excluded.cursor, "
                             "updated_at = excluded.updated_at",
                             (trigger_key, json.dumps(cursor, default=str), now))
            return added

    def cursor(self, trigger_key: str) -> Any:
        """The cursor an event trigger's last committed batch saved, or None."""
        row = self._conn().execute("SELECT cursor FROM trigger_cursors WHERE trigger = ?",
                                   (trigger_key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def claim(self, owner: str, lease_seconds: float) -> QueuedRun | None:
        """The oldest queued run, or a running one whose server's lease expired."""
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT id, key, repo, namespace, flow_id, commit_id, trigger, untrusted, attempts, "
                "execution_id, status, inputs FROM runs WHERE status = 'queued' OR (status = 'running' "
                "AND lease_until < ?) ORDER BY id LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE runs SET status = 'running', owner = ?, lease_until = ?, "
                         "attempts = attempts + 1, execution_id = NULL WHERE id = ?",
                         (owner, now + lease_seconds, row[0]))
        dead = row[9] if row[10] == "running" else None
        return QueuedRun(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]),
                         bool(row[7]), json.loads(row[11]), row[8] + 1, dead)

    def started(self, run_id: int, execution_id: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET execution_id = ? WHERE id = ?", (execution_id, run_id))

    def extend(self, owner: str, lease_seconds: float, run_ids: Iterable[int] | None = None) -> None:
        """Keep this server's running claims alive: all, or only run_ids (the runs it really
        runs, so a claim that failed to start or to finish expires instead of being kept)."""
        ids = None if run_ids is None else list(run_ids)
        if ids == []:
            return
        where = "" if ids is None else f" AND id IN ({', '.join('?' * len(ids))})"
        with self._write() as conn:
            conn.execute("UPDATE runs SET lease_until = ? WHERE owner = ? AND status = 'running'"
                         + where, (time.time() + lease_seconds, owner, *(ids or ())))

    def release(self, run_id: int, owner: str) -> None:
        """Give back a claim whose run could not start (a full disk): queued again."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET status = 'queued', owner = NULL, lease_until = NULL, "
                         "execution_id = NULL WHERE id = ? AND owner = ? AND status = 'running'",
                         (run_id, owner))

    def finish(self, run_id: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET status = 'done', finished_at = ?, lease_until = NULL "
                         "WHERE id = ?", (time.time(), run_id))

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, count(*) FROM runs GROUP BY status")
        return {status: count for status, count in rows}
