"""Run events and the Kestra state machine.

Everything that happens during a run is an immutable event handed to an
EventSink; reporters (console, history, commit status, UI) only listen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class State(StrEnum):
    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RESTARTED = "RESTARTED"
    KILLING = "KILLING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CANCELLED = "CANCELLED"
    RETRYING = "RETRYING"
    RETRIED = "RETRIED"
    SKIPPED = "SKIPPED"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def failed(self) -> bool:
        return self in (State.FAILED, State.KILLED, State.CANCELLED)


_TERMINAL = frozenset(
    {State.SUCCESS, State.WARNING, State.FAILED, State.KILLED, State.CANCELLED,
     State.RETRIED, State.SKIPPED}
)

def worst(states: list[State]) -> State:
    """The state of a group: FAILED beats KILLED beats WARNING beats SUCCESS."""
    for candidate in (State.FAILED, State.KILLED, State.CANCELLED, State.WARNING):
        if candidate in states:
            return candidate
    return State.SUCCESS


@dataclass(frozen=True)
class ExecutionStateChanged:
    execution_id: str
    flow: str  # "namespace.id"
    state: State
    at: dt.datetime
    # set on the terminal change only, secrets masked (runner/secrets.py masked): what the
    # run history keeps of the run so it can be shown and re-run later
    inputs: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    outputs: dict[str, Any] | None = None
    untrusted: bool | None = None  # True for a fork's run: a re-run of it stays untrusted


@dataclass(frozen=True)
class TaskRunStateChanged:
    execution_id: str
    task_run_id: str
    task_id: str
    value: str | None
    attempt: int
    state: State
    at: dt.datetime
    outputs: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None  # the task run this one runs inside (Parallel, ForEach, If …)


@dataclass(frozen=True)
class LogLine:
    execution_id: str
    task_run_id: str | None
    task_id: str | None
    attempt: int
    level: str  # TRACE DEBUG INFO WARN ERROR
    message: str
    at: dt.datetime
    stream: str = "log"  # log | stdout | stderr


Event = ExecutionStateChanged | TaskRunStateChanged | LogLine


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FanOut:
    """Sends each event to several sinks, in order."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


class Collect:
    """Keeps every event; for tests and for building the final execution."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


def iso(at: dt.datetime) -> str:
    """UTC ISO-8601 with fixed-width milliseconds, as stored in history."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
