"""Kestra's Schedule trigger for the server: which ticks to fire now, each exactly once.

`Scheduler(state_path, clock)` gets the schedules of every flow (`update`); `poll(now)`
/ `due(now)` answer the ticks to fire. Fire times come from runner.triggers.cron (five fields,
six with `withSeconds`, macros such as @daily) in the trigger's `timezone` (default
UTC). DST follows Vixie cron: a wall time skipped in spring fires right after the jump;
a wall time repeated in autumn fires once for fixed-hour expressions (hour field not
starting with `*`) and at both instants for `*`-hour ones, which are intervals
(`@hourly` fires 25 times on the autumn day, `30 2 * * *` once).

No tick fires twice, across restarts and processes sharing the state file: SQLite
(stdlib, WAL) keeps per trigger (repo, namespace, flow, trigger id) a cursor (every
tick up to it is decided) and a claim row per fired tick under a UNIQUE constraint.
A poll decides a trigger in one `BEGIN IMMEDIATE` transaction: read the cursor, plan,
INSERT the claims (an existing claim is not fired again: the claim is the dedupe),
advance the cursor (never backwards). A tick is returned once its claim is committed:
firing is at-most-once (a process dying between claim and start loses that tick).

Missed ticks (the server was down, or a poll came late). Ticks within `grace` (default
one minute) of now are on time and all fire. Otherwise only the most recent missed
tick fires; older ones are skipped and returned as `Skipped` records (first, last,
reason) to log. Any tick older than `lateMaximumDelay` (ISO duration) is skipped. With
`backfill: {start, end}` every tick from start (inclusive) to end (or now) fires,
oldest first, at most `max_ticks` per trigger and poll (the rest on later polls),
whatever `lateMaximumDelay`; after `end` the default policy applies; a new backfill
start rewinds the cursor (claimed ticks still do not fire again). A trigger seen for
the first time starts from now. `stopAfter`: `finished(tick, state)` stops a trigger
(Kestra disables it); `enable(key)` restarts it from now. `Tick.variables()` gives the
run's `trigger.date` (scheduled time), `trigger.next` and `trigger.previous` (ISO-8601
with the zone's offset).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.events import Clock, SystemClock
from runner.sqlite_wal import use_wal
from runner.triggers.schedule import (
    Key,
    Schedule,
    latest_tick,
    next_tick,
    previous_tick,
)

UTC = dt.UTC
_SECOND = dt.timedelta(seconds=1)


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # fixed width: sorts as time


def _unstamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _floor(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("the scheduler needs time-zone-aware datetimes")
    return at.astimezone(UTC).replace(microsecond=0)


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Of:
    repo: str
    namespace: str
    flow_id: str
    trigger_id: str

    @property
    def key(self) -> Key:
        return (self.repo, self.namespace, self.flow_id, self.trigger_id)


@dataclass(frozen=True)
class Tick(_Of):
    scheduled_time: dt.datetime  # in the trigger's zone
    next: dt.datetime
    previous: dt.datetime | None
    inputs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    backfill: bool = False

    def variables(self) -> dict[str, str | None]:
        """The run's `trigger` variables: date, next, previous (ISO-8601, zone offset)."""
        return {"date": self.scheduled_time.isoformat(), "next": self.next.isoformat(),
                "previous": self.previous.isoformat() if self.previous else None}


@dataclass(frozen=True)
class Skipped(_Of):
    first: dt.datetime
    last: dt.datetime
    reason: str

    def __str__(self) -> str:
        span = self.first.isoformat() + ("" if self.first == self.last else f" .. {self.last.isoformat()}")
        return f"{self.repo}:{self.namespace}.{self.flow_id}/{self.trigger_id}: skipped {span}: {self.reason}"


@dataclass(frozen=True)
class Poll:
    ticks: tuple[Tick, ...]
    skipped: tuple[Skipped, ...]


@dataclass
class _Plan:
    cursor: dt.datetime
    fire: list[tuple[dt.datetime, bool]] = field(default_factory=list)  # (tick, from backfill)
    skipped: list[tuple[dt.datetime, dt.datetime, str]] = field(default_factory=list)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_cursor (
  repo TEXT NOT NULL, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, trigger_id TEXT NOT NULL,
  last TEXT NOT NULL, backfill TEXT, stopped TEXT, PRIMARY KEY (repo, namespace, flow_id, trigger_id));
CREATE TABLE IF NOT EXISTS schedule_fired (
  repo TEXT NOT NULL, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, trigger_id TEXT NOT NULL,
  scheduled TEXT NOT NULL, fired_at TEXT NOT NULL, owner TEXT NOT NULL,
  UNIQUE (repo, namespace, flow_id, trigger_id, scheduled));
"""
_WHERE = "repo = ? AND namespace = ? AND flow_id = ? AND trigger_id = ?"


class Scheduler:
    def __init__(self, state_path: Path, clock: Clock | None = None, *,
                 grace: dt.timedelta = dt.timedelta(minutes=1), max_ticks: int = 100) -> None:
        self.clock = clock or SystemClock()
        self.grace = grace
        self.max_ticks = max_ticks  # per trigger and poll
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._specs: dict[Key, Schedule] = {}
        self._next: dict[Key, tuple[Schedule, dt.datetime]] = {}  # nothing due before this
        self._lock = threading.Lock()
        Path(state_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(state_path), timeout=30, isolation_level=None,
                                   check_same_thread=False)
        use_wal(self._db, lambda db: db.executescript(_SCHEMA))  # other processes may open it too

    def close(self) -> None:
        self._db.close()

    def update(self, schedules: Iterable[Schedule]) -> None:
        """Replace the set of schedules (call it when flows change)."""
        with self._lock:
            self._specs = {s.key: s for s in schedules}
            self._next = {k: v for k, v in self._next.items() if self._specs.get(k) == v[0]}

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def due(self, now: dt.datetime | None = None) -> list[Tick]:
        """The ticks to fire now, claimed: no other poll, here or elsewhere, returns them."""
        return list(self.poll(now).ticks)

    def poll(self, now: dt.datetime | None = None,
             fire: Callable[[Tick], object] | None = None) -> Poll:
        """`due`, plus records of the ticks the missed-tick policy skipped (to log).

        `fire`, when given, is called for each claimed tick before its claim commits: if it
        queues the run idempotently, a crash at any point neither loses nor repeats a tick."""
        moment = _floor(now or self.clock.now())
        ticks: list[Tick] = []
        skipped: list[Skipped] = []
        with self._lock:
            for key in sorted(self._specs):
                spec, cached = self._specs[key], self._next.get(key)
                if cached is None or cached[0] != spec or cached[1] <= moment:
                    self._poll_one(spec, moment, ticks, skipped, fire)
        return Poll(tuple(ticks), tuple(skipped))

    def _poll_one(self, spec: Schedule, now: dt.datetime, ticks: list[Tick],
                  skipped: list[Skipped], fire: Callable[[Tick], object] | None = None) -> None:
        start = stamp = None
        if spec.backfill_start is not None:  # just before the first tick at or after start
            start = _floor(spec.backfill_start + _SECOND - dt.timedelta(microseconds=1)) - _SECOND
            stamp = _stamp(spec.backfill_start)
        with self._transaction() as db:
            row = db.execute(f"SELECT last, backfill, stopped FROM schedule_cursor WHERE {_WHERE}",
                             spec.key).fetchone()
            if row is None:
                cursor = now if start is None else start
                db.execute("INSERT INTO schedule_cursor VALUES (?, ?, ?, ?, ?, ?, NULL)",
                           (*spec.key, _stamp(cursor), stamp))
            elif row[2] is not None:
                return  # stopped (stopAfter); not cached: enable() may come from another process
            else:
                cursor = _unstamp(row[0])
                if start is not None and row[1] != stamp:
                    cursor = min(cursor, start)  # a new backfill: rewind; claims prevent repeats
                    db.execute(f"UPDATE schedule_cursor SET last = ?, backfill = ? WHERE {_WHERE}",
                               (_stamp(cursor), stamp, *spec.key))
            plan = self._plan(spec, cursor, now)
            last: tuple[dt.datetime, dt.datetime] | None = None  # previous tick and its next
            for at, backfill in plan.fire:
                claimed = db.execute("INSERT OR IGNORE INTO schedule_fired VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (*spec.key, _stamp(at), _stamp(now), self.owner)).rowcount
                before = last[0] if last and last[1] == at else previous_tick(spec, at)
                last = (at, next_tick(spec, at))
                if claimed == 1:
                    tick = Tick(*spec.key, at, last[1], before, spec.inputs, backfill)
                    if fire is not None:
                        fire(tick)  # inside the transaction: a failure undoes the claim
                    ticks.append(tick)
            db.execute(f"UPDATE schedule_cursor SET last = ? WHERE {_WHERE} AND last < ?",
                       (_stamp(plan.cursor), *spec.key, _stamp(plan.cursor)))
        self._next[spec.key] = (spec, next_tick(spec, max(plan.cursor, cursor)))
        skipped += [Skipped(*spec.key, a, b, why) for a, b, why in plan.skipped]

    def _plan(self, spec: Schedule, cursor: dt.datetime, now: dt.datetime) -> _Plan:
        plan = _Plan(cursor)
        if spec.backfill_start is not None:  # every tick up to the end, oldest first
            end = min(now, _floor(spec.backfill_end)) if spec.backfill_end else now
            while (at := next_tick(spec, plan.cursor)) <= end:
                if len(plan.fire) >= self.max_ticks:
                    return plan  # the rest on the next polls
                plan.fire.append((at, True))
                plan.cursor = at
            plan.cursor = max(plan.cursor, end)
            if end >= now:
                return plan
        cursor = plan.cursor
        first = next_tick(spec, cursor)
        if first > now:
            plan.cursor = max(cursor, now)
            return plan
        horizon, on_time = now - self.grace, list[dt.datetime]()
        at = max(cursor, horizon)
        while len(on_time) < max(self.max_ticks - len(plan.fire), 1):
            at = next_tick(spec, at)
            if at > now:
                break
            on_time.append(at)
        if on_time:
            if first <= horizon:
                last = latest_tick(spec, horizon, cursor) or first
                plan.skipped.append((first, last, "missed; newer ticks are on time"))
            candidates = on_time
        else:
            latest = latest_tick(spec, now, cursor) or first
            if first < latest:
                before = latest_tick(spec, latest - _SECOND, cursor) or first
                plan.skipped.append((first, before, "missed; only the most recent missed tick runs"))
            candidates = [latest]
        delay = spec.late_maximum_delay
        if delay is not None and (late := [t for t in candidates if now - t > delay]):
            plan.skipped.append((late[0], late[-1], f"later than lateMaximumDelay ({delay})"))
            candidates = [t for t in candidates if now - t <= delay]
        plan.fire += [(t, False) for t in candidates]
        plan.cursor = now if at > now else on_time[-1]
        return plan

    # --- stopAfter ----------------------------------------------------------------------------
    def finished(self, tick: Tick, state: str) -> bool:
        """A run started by tick ended in state: stop its trigger if stopAfter says so."""
        with self._lock:
            spec = self._specs.get(tick.key)
            if spec is None or state.upper() not in spec.stop_after:
                return False
            self._db.execute(f"UPDATE schedule_cursor SET stopped = ? WHERE {_WHERE}",
                             (state.upper(), *tick.key))
            self._next.pop(tick.key, None)
            return True

    def stopped(self, key: Key) -> str | None:
        """The state that stopped the trigger (stopAfter), None while it runs."""
        with self._lock:
            row = self._db.execute(f"SELECT stopped FROM schedule_cursor WHERE {_WHERE}", key).fetchone()
        return row[0] if row else None

    def enable(self, key: Key, now: dt.datetime | None = None) -> None:
        """Start a stopped trigger again; ticks before now are not fired."""
        moment = _stamp(_floor(now or self.clock.now()))
        with self._lock:
            self._db.execute(f"UPDATE schedule_cursor SET stopped = NULL, last = max(last, ?) "
                             f"WHERE {_WHERE}", (moment, *key))
            self._next.pop(key, None)

    def prune(self, before: dt.datetime) -> int:
        """Forget claims of ticks older than before. Cursors keep those from firing again,
        unless a new backfill start rewinds past `before`: prune below backfill starts."""
        with self._lock:
            return self._db.execute("DELETE FROM schedule_fired WHERE scheduled < ?",
                                    (_stamp(before),)).rowcount
