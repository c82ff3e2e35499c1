"""History records: the event line stored in a note, run summaries, filters.

A note (one per commit) is JSON Lines of immutable events. Every line is
serialised with sorted keys and no spaces, so one event is always the same
bytes; a note's content is its lines sorted and de-duplicated, exactly what
git's `cat_sort_uniq` notes merge strategy produces. A run's state is the
state of its highest `seq`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import GitflowsError

NOTES_REF = "refs/notes/flows"
LOGS_REF = "refs/flows/logs"
VERSION = 1

_HEX40 = re.compile(r"[0-9a-f]{40}")
_RUN_KEY = b'"run":"'


class HistoryError(GitflowsError):
    """The history store could not be read or written."""


def is_object_id(text: str) -> bool:
    return bool(_HEX40.fullmatch(text))


@dataclass(frozen=True)
class HistoryEvent:
    """One line of a note. Optional fields are left out of the line when unset."""

    t: str  # UTC ISO-8601, fixed width: 2026-11-26T16:43:22.349Z
    run: str  # ULID
    seq: int
    flow: str  # "namespace.id"
    state: str
    trigger: str | None = None
    ref: str | None = None
    runner: str | None = None
    dur_ms: int | None = None
    log: str | None = None  # pointer: id of the run's log tree (see notes.py)
    dirty: bool = False  # recorded from a work tree that differed from the commit
    v: int = VERSION

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"t": self.t, "run": self.run, "seq": self.seq, "v": self.v,
                                "flow": self.flow, "state": self.state}
        for key in ("trigger", "ref", "runner", "dur_ms", "log"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.dirty:
            data["dirty"] = True
        return data

    def line(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()


def parse_line(line: bytes | str) -> HistoryEvent | None:
    """The event of one note line; None for lines that are not (readable) events."""
    try:
        data = json.loads(line)
        dur_ms = data.get("dur_ms")
        return HistoryEvent(
            t=_str(data["t"]), run=_str(data["run"]), seq=int(data["seq"]), flow=_str(data["flow"]),
            state=_str(data["state"]), trigger=_opt_str(data.get("trigger")),
            ref=_opt_str(data.get("ref")), runner=_opt_str(data.get("runner")),
            dur_ms=None if dur_ms is None else int(dur_ms), log=_opt_str(data.get("log")),
            dirty=bool(data.get("dirty", False)), v=int(data.get("v", VERSION)))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _str(value: object) -> str:
    return value if type(value) is str else str(value)


def _opt_str(value: object) -> str | None:
    if value is None or type(value) is str:
        return value
    return json.dumps(value, sort_keys=True)


def note_lines(content: bytes) -> set[bytes]:
    return {line for line in content.split(b"\n") if line.strip()}


def union_lines(*contents: bytes | Iterable[bytes]) -> bytes:
    """cat_sort_uniq: all lines of all contents, empty ones dropped, sorted bytewise, unique."""
    lines: set[bytes] = set()
    for content in contents:
        lines |= note_lines(content) if isinstance(content, bytes) else set(content)
    return b"".join(line + b"\n" for line in sorted(lines))


def run_of_line(line: bytes) -> str | None:
    """The run id of a note line without parsing all of it (lines are canonical JSON)."""
    at = line.find(_RUN_KEY)
    if at >= 0:
        end = line.find(b'"', at + len(_RUN_KEY))
        if end > 0:
            return line[at + len(_RUN_KEY):end].decode("ascii", "replace")
    event = parse_line(line)
    return event.run if event else None


def events_of(content: bytes, run: str | None = None) -> list[HistoryEvent]:
    """The events in a note (of one run when given), in (run, seq, t) order."""
    found = []
    for line in note_lines(content):
        if run is not None and run_of_line(line) != run:
            continue
        event = parse_line(line)
        if event is not None:
            found.append(event)
    return sorted(found, key=lambda e: (e.run, e.seq, e.t))


@dataclass(frozen=True)
class RunSummary:
    """A run as listed by `flows history`: its latest state and when it started."""

    run: str
    flow: str
    state: str
    commit: str
    ref: str | None
    trigger: str | None
    started: str
    dur_ms: int | None
    runner: str | None = None
    log: str | None = None
    updated: str = ""
    seq: int = 0
    dirty: bool = False

    def to_json(self) -> dict[str, Any]:
        """The `flows history --json` object (the contract in DESIGN.md)."""
        return {"run": self.run, "flow": self.flow, "state": self.state, "commit": self.commit,
                "ref": self.ref, "trigger": self.trigger, "started": self.started,
                "dur_ms": self.dur_ms}


def summarize(commit: str, events: Iterable[HistoryEvent]) -> RunSummary:
    """Fold the events of one run: state of the highest seq, start of the lowest."""
    ordered = sorted(events, key=lambda e: (e.seq, e.t))
    if not ordered:
        raise ValueError("a run has at least one event")
    first, last = ordered[0], ordered[-1]

    def latest(key: str) -> Any:
        for event in reversed(ordered):
            value = getattr(event, key)
            if value is not None:
                return value
        return None

    return RunSummary(run=first.run, flow=last.flow, state=last.state, commit=commit,
                      ref=latest("ref"), trigger=latest("trigger"), started=first.t,
                      dur_ms=latest("dur_ms"), runner=latest("runner"), log=latest("log"),
                      updated=last.t, seq=last.seq, dirty=any(e.dirty for e in ordered))


def summarize_note(commit: str, content: bytes,
                   only: set[str] | None = None) -> dict[str, RunSummary]:
    """run id → summary for the runs of a note (restricted to `only` when given)."""
    by_run: dict[str, list[HistoryEvent]] = {}
    for line in note_lines(content):
        if only is not None and run_of_line(line) not in only:
            continue
        event = parse_line(line)
        if event is not None:
            by_run.setdefault(event.run, []).append(event)
    return {run: summarize(commit, events) for run, events in by_run.items()}


@dataclass(frozen=True)
class RunFilter:
    """What `runs()` lists, newest first. All given fields must match."""

    flow: str | None = None
    ref: str | None = None
    state: str | None = None
    commit: str | None = None
    run_prefix: str | None = None
    limit: int | None = 50

    def matches(self, summary: RunSummary) -> bool:
        return ((self.flow is None or summary.flow == self.flow)
                and (self.ref is None or _same_ref(summary.ref, self.ref))
                and (self.state is None or summary.state == self.state.upper())
                and (self.commit is None or summary.commit.startswith(self.commit))
                and (self.run_prefix is None or summary.run.startswith(self.run_prefix.upper())))


def ref_names(ref: str) -> tuple[str, str]:
    """A branch given as `main` or `refs/heads/main`: both spellings, for matching."""
    short = ref.removeprefix("refs/heads/")
    return short, f"refs/heads/{short}"


def _same_ref(stored: str | None, wanted: str) -> bool:
    return stored is not None and stored in ref_names(wanted)


def newest_first(summaries: Iterable[RunSummary], run_filter: RunFilter) -> list[RunSummary]:
    rows = sorted((s for s in summaries if run_filter.matches(s)),
                  key=lambda s: (s.started, s.run), reverse=True)
    return rows if run_filter.limit is None else rows[:run_filter.limit]


@dataclass(frozen=True)
class PruneResult:
    runs: int
    notes: int
    logs: int


def as_lines(events: Iterable[HistoryEvent | bytes]) -> set[bytes]:
    return {e if isinstance(e, bytes) else e.line() for e in events}


def detail_json(detail: Mapping[str, Any]) -> bytes:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str).encode()
