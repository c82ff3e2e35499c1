"""Console reporter: one line per log line and task state, with time and task id.

Colours only on a terminal; secrets are masked before anything is printed. A step
that prints nothing for `heartbeat` seconds gets a `… task still running (1m30s)`
line, so a silent build never looks hung. It also keeps the flow's outputs (masked,
from the terminal event) for the command to print at the end.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from runner.events import Event, ExecutionStateChanged, LogLine, State, TaskRunStateChanged
from runner.secrets import mask_text

_COLOURS = {
    "ERROR": "\x1b[31m", "WARN": "\x1b[33m", "DEBUG": "\x1b[2m", "TRACE": "\x1b[2m",
    State.SUCCESS: "\x1b[32m", State.WARNING: "\x1b[33m", State.FAILED: "\x1b[31m",
    State.KILLED: "\x1b[31m", State.SKIPPED: "\x1b[2m",
}
_RESET = "\x1b[0m"
_SHOWN_TASK_STATES = frozenset({State.RUNNING, State.SUCCESS, State.WARNING, State.FAILED,
                                State.KILLED, State.SKIPPED, State.RETRYING})
_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
HEARTBEAT_ENV = "GITFLOWS_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT = 30.0


def heartbeat_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """The heartbeat interval: $GITFLOWS_HEARTBEAT_SECONDS (tests use a short one), else 30 s;
    0 turns it off."""
    try:
        value = float(environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT))
    except ValueError:
        return DEFAULT_HEARTBEAT
    return max(value, 0.0)


def elapsed(seconds: float) -> str:
    """`42s`, `1m30s`, `2h05m`: short enough for a progress line."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@dataclass
class Running:
    task_id: str
    started: float  # monotonic
    last_seen: float  # monotonic: the last line printed for it


class ConsoleReporter:
    def __init__(self, out: TextIO | None = None, *, level: str = "INFO",
                 secrets: Iterable[str] = (), colour: bool | None = None,
                 heartbeat: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out or sys.stderr
        self.min_level = _LEVELS.index(level) if level in _LEVELS else 2
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self.colour = self.out.isatty() if colour is None else colour
        self.heartbeat = heartbeat
        self.clock = clock
        self.running: dict[str, Running] = {}  # task run id → what it is doing
        self.outputs: dict[str, Any] | None = None  # the first (top) execution's, once ended
        self.execution_id: str | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle: the heartbeat thread --------------------------------------
    def __enter__(self) -> ConsoleReporter:
        if self.heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, name="console-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(min(self.heartbeat / 4, 1.0)):
            self.beat()

    def beat(self) -> None:
        """One heartbeat check: a line for each task silent for a whole interval."""
        now = self.clock()
        with self._lock:
            for run in self.running.values():
                if now - run.last_seen >= self.heartbeat:
                    run.last_seen = now
                    self.write(f"… {run.task_id} still running ({elapsed(now - run.started)})")

    # -- events -----------------------------------------------------------------
    def emit(self, event: Event) -> None:
        with self._lock:
            self._track(event)
            if isinstance(event, LogLine):
                rank = _LEVELS.index(event.level) if event.level in _LEVELS else 2
                if rank < self.min_level:
                    return
                self._line(event.at.strftime("%H:%M:%S.%f")[:-3], event.task_id or "-",
                           event.level, self.mask(event.message), event.level)
            elif isinstance(event, TaskRunStateChanged) and event.state in _SHOWN_TASK_STATES:
                attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
                self._line(event.at.strftime("%H:%M:%S.%f")[:-3], event.task_id, "STATE",
                           f"{event.state}{attempt}", event.state)
            elif isinstance(event, ExecutionStateChanged) and event.state.terminal:
                self._line(event.at.strftime("%H:%M:%S.%f")[:-3], event.flow, "FLOW",
                           f"{event.state} (execution {event.execution_id})", event.state)

    def _track(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, ExecutionStateChanged):
            self.execution_id = self.execution_id or event.execution_id
            if event.state.terminal and event.execution_id == self.execution_id:
                self.outputs = event.outputs or {}
        elif isinstance(event, TaskRunStateChanged):
            if event.state is State.RUNNING:
                self.running.setdefault(event.task_run_id, Running(event.task_id, now, now))
            elif event.state.terminal:
                self.running.pop(event.task_run_id, None)
        elif event.task_run_id in self.running:
            self.running[event.task_run_id].last_seen = now

    def mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def _line(self, clock: str, who: str, tag: str, message: str, colour_key: object) -> None:
        start = _COLOURS.get(colour_key, "") if self.colour else ""  # type: ignore[call-overload]
        end = _RESET if start else ""
        self.write(f"{clock} {who:<16} {start}{tag:<5} {message}{end}")

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def console_for(out: TextIO, level: str, environ: Mapping[str, str]) -> ConsoleReporter:
    """A live view of the running tasks on a terminal; plain lines, with a heartbeat for
    silent steps, otherwise (CI logs, pipes, tests)."""
    if out.isatty() and environ.get("TERM") != "dumb":
        from runner.reporters.live import LiveReporter  # rich loads only for a terminal

        return LiveReporter(out, level=level)
    return ConsoleReporter(out, level=level, heartbeat=heartbeat_seconds(environ))


def format_outputs(outputs: Mapping[str, Any]) -> str:
    """The flow's outputs for a person (and grep): `name: value`, a value that is not text
    as one line of JSON."""
    lines = ["outputs:"]
    for name, value in outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines)
