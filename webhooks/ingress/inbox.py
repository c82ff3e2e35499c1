"""The durable delivery inbox: a verified webhook delivery is stored here, on disk, before
the server answers 202, and is processed from here, so neither a crash nor a restart
loses it.

SQLite in WAL mode; every write is one `BEGIN IMMEDIATE` transaction committed with
`synchronous=FULL` (the WAL is fsynced before `accept` returns). Deliveries accepted at the
same moment share one transaction (group commit: runner/group_commit.py). Safe for several threads
(one connection per thread) and several processes on the same file (busy_timeout).

Life of a delivery: pending → claimed (a worker holds a lease) → done, or failed (retried
at `retry_at` as pending again, or kept as failed for good). A worker killed mid-processing
never calls done/failed: once its lease expires the delivery is claimable again, so it is
replayed (at-least-once; dispatch must be idempotent per delivery). Duplicates
(same provider and delivery id) are stored once: UNIQUE(provider, delivery_id).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from runner.group_commit import GroupCommit
from runner.sqlite_wal import use_wal

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB; the HTTP layer answers 413 above
MAX_ERROR = 4000
SCHEMA_VERSION = 1

PENDING = "pending"
CLAIMED = "claimed"
DONE = "done"
FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id           INTEGER PRIMARY KEY,
    provider     TEXT    NOT NULL,
    delivery_id  TEXT    NOT NULL,
    headers      TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    received_at  REAL    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending',
    available_at REAL    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  REAL,
    last_error   TEXT,
    finished_at  REAL,
    UNIQUE (provider, delivery_id)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (available_at, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_leases ON deliveries (lease_until, id) WHERE state = 'claimed';
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (finished_at) WHERE state = 'done';
"""

_COLUMNS = "id, provider, delivery_id, headers, body, received_at, state, attempts, lease_owner, " \
           "lease_until, last_error"


class InboxUnavailableError(RuntimeError):
    """The database stayed locked past the busy timeout (or cannot be opened): answer 503 so
    the provider retries; nothing was stored."""


@dataclass(frozen=True)
class Delivery:
    id: int
    provider: str
    delivery_id: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float
    state: str
    attempts: int  # claims so far, this one included
    lease_owner: str | None
    lease_until: float | None
    last_error: str | None


def _unavailable(error: BaseException) -> Exception:
    """What each caller of a failed batch raises: 503 when the database was busy."""
    if isinstance(error, InboxUnavailableError):
        return InboxUnavailableError(str(error))
    return RuntimeError(f"storing the delivery failed: {error}")


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced: the inbox tracks its connections (to close
    them all) without keeping those of finished threads alive."""


class Inbox:
    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._writer = threading.Lock()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        # deliveries arriving together share one transaction: one fsync, not one each
        self._accepts = GroupCommit(self._accept_batch, _unavailable)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    # -- connections --------------------------------------------------------------------
    def _connect(self) -> _Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False, factory=_Connection)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as err:
            raise InboxUnavailableError(f"inbox {self.path}: {err}") from err
        return conn

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # new thread, or a forked child
            local.conn = self._connect()
            local.pid = os.getpid()
            with self._lock:
                self._connections.add(local.conn)
        conn: sqlite3.Connection = local.conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # Threads of this process queue on a lock rather than in SQLite's busy handler, which
        # sleeps in steps of up to 100 ms: that made the p99 of accepting a delivery ~130 ms.
        with self._writer, self._write_locked() as conn:
            yield conn

    @contextmanager
    def _write_locked(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise InboxUnavailableError(f"inbox {self.path}: {err}") from err
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.OperationalError):
                raise InboxUnavailableError(f"inbox {self.path}: {err}") from err
            raise

    def _init_schema(self) -> None:
        # the WAL switch answers "locked" at once while another process holds the file: the
        # shared set-up retries it; the schema's write then waits out the busy timeout
        try:
            use_wal(self._conn(), seconds=self.busy_timeout)
        except sqlite3.OperationalError as err:
            raise InboxUnavailableError(f"inbox {self.path}: {err}") from err
        with self._write() as conn:  # (executescript would COMMIT on its own)
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections), weakref.WeakSet()
        for conn in connections:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # -- the HTTP side ------------------------------------------------------------------
    def accept(self, provider: str, delivery_id: str, headers_subset: Mapping[str, str],
               body: bytes) -> bool:
        """Store a verified delivery durably. True when stored now, False for a duplicate
        (already stored, whatever its state: acknowledge it, do not process it twice)."""
        if len(body) > MAX_BODY:
            raise ValueError(f"body of {len(body)} bytes is larger than MAX_BODY ({MAX_BODY})")
        headers = json.dumps(dict(headers_subset), sort_keys=True)
        return self._accepts.submit((provider, delivery_id, headers, body))

    def _accept_batch(self, batch: list[tuple[str, str, str, bytes]]) -> list[bool]:
        """Store deliveries in one transaction (one fsync); for each, whether it is new."""
        now = self.clock()
        with self._write() as conn:
            return [conn.execute(
                "INSERT INTO deliveries (provider, delivery_id, headers, body, received_at, available_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, delivery_id) DO NOTHING",
                (provider, delivery_id, headers, sqlite3.Binary(body), now, now)).rowcount == 1
                for provider, delivery_id, headers, body in batch]

    # -- the worker side ----------------------------------------------------------------
    def claim(self, worker_id: str, lease_seconds: float) -> Delivery | None:
        """The oldest delivery ready to process (pending and due, or claimed with an expired
        lease), now claimed by `worker_id` until now + lease_seconds; None when there is none."""
        claimed = self.claim_batch(worker_id, lease_seconds, 1)
        return claimed[0] if claimed else None

    def claim_batch(self, worker_id: str, lease_seconds: float, limit: int) -> list[Delivery]:
        """Up to `limit` deliveries ready to process, oldest first (expired leases, then
        pending ones), each claimed by `worker_id` with its own lease, in one transaction."""
        now = self.clock()
        with self._write() as conn:
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM deliveries WHERE state = 'claimed' AND lease_until <= ?"
                " ORDER BY lease_until, id LIMIT ?", (now, limit))]
            if len(ids) < limit:
                ids += [row[0] for row in conn.execute(
                    "SELECT id FROM deliveries WHERE state = 'pending' AND available_at <= ?"
                    " ORDER BY available_at, id LIMIT ?", (now, limit - len(ids)))]
            rows = [conn.execute(
                "UPDATE deliveries SET state = 'claimed', lease_owner = ?, lease_until = ?,"
                f" attempts = attempts + 1 WHERE id = ? RETURNING {_COLUMNS}",
                (worker_id, now + lease_seconds, id_)).fetchone() for id_ in ids]
        return [_delivery(row) for row in rows if row is not None]

    def extend(self, id: int, worker_id: str, lease_seconds: float) -> bool:
        """Renew the lease of a delivery this worker still holds (for long processing)."""
        with self._write() as conn:
            return conn.execute(
                "UPDATE deliveries SET lease_until = ? WHERE id = ? AND state = 'claimed'"
                " AND lease_owner = ?", (self.clock() + lease_seconds, id, worker_id)).rowcount == 1

    def done(self, id: int, worker_id: str | None = None) -> bool:
        """Mark a claimed delivery processed. With `worker_id`, only if that worker still holds
        the lease (a worker whose lease expired and was taken over gets False)."""
        return self._finish(id, worker_id, DONE, None, None)

    def done_batch(self, ids: list[int], worker_id: str | None = None) -> int:
        """done() for many deliveries in one transaction; how many were still held."""
        if not ids:
            return 0
        owner_clause = " AND lease_owner = ?" if worker_id is not None else ""
        now = self.clock()
        with self._write() as conn:
            return sum(conn.execute(
                "UPDATE deliveries SET state = 'done', finished_at = ?, available_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ? AND state = 'claimed'"
                + owner_clause, (now, now, id_) + ((worker_id,) if worker_id is not None else ())
            ).rowcount for id_ in ids)

    def failed(self, id: int, error: str, retry_at: float | None, worker_id: str | None = None) -> bool:
        """Record a failed attempt: pending again from `retry_at`, or failed for good when
        retry_at is None. Same lease rule as done()."""
        return self._finish(id, worker_id, PENDING if retry_at is not None else FAILED, error, retry_at)

    def _finish(self, id: int, worker_id: str | None, state: str, error: str | None,
                retry_at: float | None) -> bool:
        now = self.clock()
        owner_clause = " AND lease_owner = ?" if worker_id is not None else ""
        params: tuple[object, ...] = (state, error[:MAX_ERROR] if error is not None else None,
                                      now if state in (DONE, FAILED) else None,
                                      retry_at if retry_at is not None else now, id)
        with self._write() as conn:
            return conn.execute(
                "UPDATE deliveries SET state = ?, last_error = COALESCE(?, last_error),"
                " finished_at = ?, available_at = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND state = 'claimed'" + owner_clause,
                params + ((worker_id,) if worker_id is not None else ())).rowcount == 1

    def requeue_expired(self) -> int:
        """Put every claimed delivery whose lease expired back to pending; how many.
        (claim() takes expired ones anyway; this is for metrics and an orderly restart.)"""
        now = self.clock()
        with self._write() as conn:
            return conn.execute(
                "UPDATE deliveries SET state = 'pending', lease_owner = NULL, lease_until = NULL,"
                " available_at = ? WHERE state = 'claimed' AND lease_until <= ?", (now, now)).rowcount

    def release_dead(self, alive: Callable[[str], bool]) -> int:
        """Put back to pending at once the deliveries claimed by workers `alive` says are gone
        (a server restarted after kill -9 replays its predecessor's batch without waiting for
        the leases to expire); how many."""
        now = self.clock()
        with self._write() as conn:
            owners = [row[0] for row in conn.execute(
                "SELECT DISTINCT lease_owner FROM deliveries WHERE state = 'claimed'")]
            dead = [owner for owner in owners if owner is not None and not alive(owner)]
            return sum(conn.execute(
                "UPDATE deliveries SET state = 'pending', lease_owner = NULL, lease_until = NULL,"
                " available_at = ? WHERE state = 'claimed' AND lease_owner = ?",
                (now, owner)).rowcount for owner in dead)

    # -- reading ------------------------------------------------------------------------
    def pending_count(self) -> int:
        """Deliveries not finished yet: pending (due or waiting for a retry) or claimed."""
        row = self._conn().execute(
            "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'claimed')").fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        """Deliveries per state, every state present (for /metrics)."""
        found = dict(self._conn().execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
        return {state: int(found.get(state, 0)) for state in (PENDING, CLAIMED, DONE, FAILED)}

    def get(self, id: int) -> Delivery | None:
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (id,)).fetchone()
        return _delivery(row) if row is not None else None

    def find(self, provider: str, delivery_id: str) -> Delivery | None:
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM deliveries WHERE provider = ?"
                                   " AND delivery_id = ?", (provider, delivery_id)).fetchone()
        return _delivery(row) if row is not None else None

    def purge(self, finished_before: float) -> int:
        """Forget deliveries done before a time (their ids stop deduplicating); how many."""
        with self._write() as conn:
            return conn.execute("DELETE FROM deliveries WHERE state = 'done' AND finished_at < ?",
                                (finished_before,)).rowcount


def _delivery(row: tuple[object, ...]) -> Delivery:
    (id_, provider, delivery_id, headers, body, received_at, state, attempts, lease_owner,
     lease_until, last_error) = row
    assert isinstance(id_, int) and isinstance(attempts, int) and isinstance(headers, str)
    assert isinstance(body, bytes)
    return Delivery(id_, str(provider), str(delivery_id), json.loads(headers), body,
                    float(received_at) if isinstance(received_at, int | float) else 0.0, str(state),
                    attempts, lease_owner if isinstance(lease_owner, str) else None,
                    float(lease_until) if isinstance(lease_until, int | float) else None,
                    last_error if isinstance(last_error, str) else None)
