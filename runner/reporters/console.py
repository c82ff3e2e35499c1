"""Console reporter: one line per log line and task state, with time and task id.

Colours only on a terminal; secrets are masked before anything is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

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


class ConsoleReporter:
    def __init__(self, out: TextIO | None = None, *, level: str = "INFO",
                 secrets: Iterable[str] = (), colour: bool | None = None) -> None:
        self.out = out or sys.stderr
        self.min_level = _LEVELS.index(level) if level in _LEVELS else 2
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self.colour = self.out.isatty() if colour is None else colour

    def emit(self, event: Event) -> None:
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

    def mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def _line(self, clock: str, who: str, tag: str, message: str, colour_key: object) -> None:
        start = _COLOURS.get(colour_key, "") if self.colour else ""  # type: ignore[call-overload]
        end = _RESET if start else ""
        self.out.write(f"{clock} {who:<16} {start}{tag:<5} {message}{end}\n")
        self.out.flush()
