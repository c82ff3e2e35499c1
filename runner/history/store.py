"""The Store seam (what reporters and queries talk to) and an in-memory Store for tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from runner.events import iso
from runner.history.records import (
    HistoryEvent,
    PruneResult,
    RunFilter,
    RunSummary,
    as_lines,
    events_of,
    is_object_id,
    newest_first,
    note_lines,
    run_of_line,
    summarize_note,
    union_lines,
)


class Store(Protocol):
    def append(self, commit: str, events: Sequence[HistoryEvent]) -> None:
        """Add events to the note of commit (a full 40-hex id); idempotent."""

    def runs(self, run_filter: RunFilter | None = None) -> list[RunSummary]:
        """Runs, newest first (by start), with their latest state."""

    def run(self, run_id: str) -> list[HistoryEvent]:
        """The events of one run in seq order ([] if unknown)."""

    def write_log(self, run_id: str, text: str, detail: Mapping[str, Any]) -> str:
        """Store a run's log text and detail (task runs, outputs); returns the pointer."""

    def logs(self, run_id: str) -> str | None:
        """The log text of a run, None if it has none (or it is not available here)."""

    def detail(self, run_id: str) -> dict[str, Any] | None:
        """The detail document stored with the log (see recorder.py)."""

    def prune(self, keep_days: float | None = None, keep_runs: int | None = None, *,
              now: dt.datetime | None = None) -> PruneResult:
        """Drop whole runs older than keep_days or beyond the newest keep_runs."""


def check_commit(commit: str) -> None:
    if not is_object_id(commit):
        raise ValueError(f"history notes need a full lowercase commit id, got {commit!r}")


def select_pruned(newest: Iterable[RunSummary], keep_days: float | None, keep_runs: int | None,
                  now: dt.datetime | None = None) -> list[RunSummary]:
    """The runs a prune drops: older than keep_days, or past the newest keep_runs."""
    cutoff = None
    if keep_days is not None:
        cutoff = iso((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days))
    dropped = []
    for position, summary in enumerate(newest):
        if ((keep_runs is not None and position >= keep_runs)
                or (cutoff is not None and summary.started < cutoff)):
            dropped.append(summary)
    return dropped


def without_runs(content: bytes, runs: set[str]) -> bytes | None:
    """A note with the lines of some runs removed; None when nothing is left."""
    kept = {line for line in note_lines(content) if run_of_line(line) not in runs}
    return union_lines(kept) if kept else None


class MemoryStore:
    """The Store contract in memory, same semantics as NotesStore (tests, dry runs)."""

    def __init__(self) -> None:
        self.notes: dict[str, bytes] = {}
        self._logs: dict[str, tuple[str, dict[str, Any], str]] = {}
        self._lock = threading.Lock()

    def append(self, commit: str, events: Sequence[HistoryEvent]) -> None:
        check_commit(commit)
        with self._lock:
            self.notes[commit] = union_lines(self.notes.get(commit, b""), as_lines(events))

    def _summaries(self) -> list[RunSummary]:
        found: list[RunSummary] = []
        for commit, content in self.notes.items():
            found.extend(summarize_note(commit, content).values())
        return found

    def runs(self, run_filter: RunFilter | None = None) -> list[RunSummary]:
        with self._lock:
            return newest_first(self._summaries(), run_filter or RunFilter())

    def run(self, run_id: str) -> list[HistoryEvent]:
        with self._lock:
            for content in self.notes.values():
                found = events_of(content, run_id)
                if found:
                    return found
        return []

    def write_log(self, run_id: str, text: str, detail: Mapping[str, Any]) -> str:
        pointer = hashlib.sha1(run_id.encode() + text.encode() +
                               json.dumps(detail, sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            self._logs[run_id] = (text, dict(detail), pointer)
        return pointer

    def logs(self, run_id: str) -> str | None:
        with self._lock:
            found = self._logs.get(run_id)
        return None if found is None else found[0]

    def detail(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._logs.get(run_id)
        return None if found is None else found[1]

    def prune(self, keep_days: float | None = None, keep_runs: int | None = None, *,
              now: dt.datetime | None = None) -> PruneResult:
        with self._lock:
            newest = newest_first(self._summaries(), RunFilter(limit=None))
            dropped = select_pruned(newest, keep_days, keep_runs, now)
            runs = {s.run for s in dropped}
            commits = {s.commit for s in dropped}
            for commit in commits:
                left = without_runs(self.notes[commit], runs)
                if left is None:
                    del self.notes[commit]
                else:
                    self.notes[commit] = left
            logs = [run for run in runs if self._logs.pop(run, None) is not None]
        return PruneResult(runs=len(runs), notes=len(commits), logs=len(logs))
