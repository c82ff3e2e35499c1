"""A read index of runs (SQLite, stdlib): never the source of truth.

It records the notes commit it reflects (`tip`); a reader whose tip differs
from the ref catches up from the tree diff between the two notes commits, so
only changed notes are parsed. Deleting the file only costs a rebuild.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.history.records import RunFilter, RunSummary, ref_names
from runner.sqlite_wal import use_wal

SCHEMA = 1
_COLUMNS = ("run", "commit_id", "flow", "state", "ref", "trigger", "started", "dur_ms", "runner",
            "log", "updated", "seq", "dirty")


@dataclass(frozen=True)
class RunSearch:
    """A page of runs for search(): all given fields must match."""

    before: str | None = None  # only run ids sorting before this one (the next page)
    state: str | None = None
    flow: str | None = None  # namespace.id
    namespace: str | None = None  # this namespace or one below it
    trigger: str | None = None  # the trigger type as recorded (push, schedule, manual …)
    text: str | None = None  # a part of the run id, any case
    limit: int = 50


class RunIndex:
    def __init__(self, path: Path | None, source: str) -> None:
        """path None: in memory (rebuilt on first use in each process)."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), timeout=30,
                                   isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            if path is not None:
                use_wal(self._db)
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(
                "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
                "CREATE TABLE IF NOT EXISTS runs(run TEXT PRIMARY KEY, commit_id TEXT NOT NULL,"
                " flow TEXT, state TEXT, ref TEXT, trigger TEXT, started TEXT, dur_ms INTEGER,"
                " runner TEXT, log TEXT, updated TEXT, seq INTEGER, dirty INTEGER);"
                "CREATE INDEX IF NOT EXISTS runs_started ON runs(started, run);"
                "CREATE INDEX IF NOT EXISTS runs_commit ON runs(commit_id);"
                "CREATE INDEX IF NOT EXISTS runs_flow ON runs(flow, started);")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("schema") != str(SCHEMA) or meta.get("source") != source:
                    self._db.execute("DELETE FROM runs")
                    self._db.execute("DELETE FROM meta")
                    self._db.executemany("INSERT INTO meta VALUES (?, ?)",
                                         [("schema", str(SCHEMA)), ("source", source)])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def tip(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'tip'").fetchone()
        return None if row is None else str(row[0])

    def update(self, expected: str | None, tip: str | None, upserts: Iterable[RunSummary],
               deletes: Iterable[str], reset: bool = False) -> bool:
        """Apply a catch-up from `expected` to `tip`; False if someone moved the index first."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'tip'").fetchone()
                if (None if row is None else row[0]) != expected:
                    db.execute("ROLLBACK")
                    return False
                if reset:
                    db.execute("DELETE FROM runs")
                db.executemany("DELETE FROM runs WHERE run = ?", ((run,) for run in deletes))
                db.executemany(f"INSERT OR REPLACE INTO runs VALUES ({','.join('?' * len(_COLUMNS))})",
                               (_row(s) for s in upserts))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('tip', ?)", (tip,))
                db.execute("COMMIT")
                return True
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def query(self, run_filter: RunFilter) -> list[RunSummary]:
        where, args = [], []
        if run_filter.flow is not None:
            where.append("flow = ?")
            args.append(run_filter.flow)
        if run_filter.ref is not None:
            where.append("ref IN (?, ?)")
            args.extend(ref_names(run_filter.ref))
        if run_filter.state is not None:
            where.append("state = ?")
            args.append(run_filter.state.upper())
        if run_filter.commit is not None:
            where.append("commit_id >= ? AND commit_id < ?")
            args.extend([run_filter.commit, run_filter.commit + "g"])
        if run_filter.run_prefix is not None:
            prefix = run_filter.run_prefix.upper()
            where.append("run >= ? AND run < ?")
            args.extend([prefix, prefix + "\x7f"])
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC, run DESC"
        if run_filter.limit is not None:
            sql += f" LIMIT {int(run_filter.limit)}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_summary(row) for row in rows]

    def search(self, wanted: RunSearch) -> list[RunSummary]:
        """Runs by id, newest first (ULIDs sort by creation time): the UI's executions list."""
        where: list[str] = ["1"]
        args: list[object] = []
        for clause, value in (("run < ?", wanted.before), ("state = ?", wanted.state),
                              ("flow = ?", wanted.flow), ("trigger = ?", wanted.trigger),
                              ("instr(run, ?) > 0", wanted.text)):
            if value:
                where.append(clause)
                args.append(value.upper() if clause.startswith(("state", "instr")) else value)
        if wanted.namespace:  # the namespace and those below it (demo: demo.x, demo.y.z)
            prefix = wanted.namespace + "."
            where.append("substr(flow, 1, ?) = ?")
            args.extend([len(prefix), prefix])
        sql = (f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE {' AND '.join(where)}"
               f" ORDER BY run DESC LIMIT {int(wanted.limit)}")
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_summary(row) for row in rows]

    def latest_per_flow(self, count: int) -> list[RunSummary]:
        """The newest `count` runs of every flow, in one query (the flows page's last states)."""
        # each flow's newest runs through the (flow, started) index: no scan of every run
        columns = ", ".join(f"r.{c}" for c in _COLUMNS)
        sql = (f"SELECT {columns} FROM (SELECT DISTINCT flow FROM runs) AS f JOIN runs AS r"
               f" ON r.run IN (SELECT run FROM runs WHERE flow = f.flow"
               f" ORDER BY started DESC, run DESC LIMIT ?)"
               f" ORDER BY r.flow, r.started DESC, r.run DESC")
        with self._lock:
            rows = self._db.execute(sql, (int(count),)).fetchall()
        return [_summary(row) for row in rows]

    def locate(self, run: str) -> str | None:
        """The commit whose note holds run."""
        with self._lock:
            row = self._db.execute("SELECT commit_id FROM runs WHERE run = ?", (run,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(s: RunSummary) -> tuple[object, ...]:
    return (s.run, s.commit, s.flow, s.state, s.ref, s.trigger, s.started, s.dur_ms, s.runner,
            s.log, s.updated, s.seq, int(s.dirty))


def _summary(row: tuple[object, ...]) -> RunSummary:
    (run, commit, flow, state, ref, trigger, started, dur_ms, runner, log, updated, seq,
     dirty) = row
    return RunSummary(run=str(run), flow=str(flow), state=str(state), commit=str(commit),
                      ref=None if ref is None else str(ref),
                      trigger=None if trigger is None else str(trigger), started=str(started),
                      dur_ms=None if dur_ms is None else int(str(dur_ms)),
                      runner=None if runner is None else str(runner),
                      log=None if log is None else str(log), updated=str(updated),
                      seq=int(str(seq)), dirty=bool(dirty))
