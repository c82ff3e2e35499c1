"""HistoryRecorder: an EventSink that writes engine runs into a history Store.

What is stored, per run (execution) the engine reports:
- in the note of `commit`, one event line per run state change (RUNNING,
  QUEUED, PAUSED, …, then the terminal state); `seq` counts them from 1. The
  terminal event also carries `dur_ms` (first state change → terminal) and
  `log`, the pointer returned by Store.write_log;
- with the log (written once, when the run ends, before the terminal event):
  the log text, one line per LogLine
  `2026-11-26T16:43:22.349Z task[#attempt] LEVEL message`, capped at
  `log_cap` bytes (5 MiB) with a final `[gitflows] log truncated …` line, and
  a detail document (`run.json`): the state timeline, every task run with its
  state changes, attempts, outputs and `parent` task run, and (when the engine
  reports them on the terminal change) the run's `inputs`, `labels` and flow
  `outputs`, secrets masked as "******". Readers accept a run.json without the
  later keys (`inputs`, `labels`, `outputs`, a task's `parent`).
Task-level events never go into the notes, so notes stay small.

Writing history must never break a run: errors are kept in `errors` (and
passed to `on_error`) instead of being raised into the engine.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.events import Event, ExecutionStateChanged, LogLine, TaskRunStateChanged, iso
from runner.history.records import HistoryEvent
from runner.history.store import Store, check_commit
from runner.secrets import mask_text, masked

LOG_CAP = 5 * 1024 * 1024


@dataclass
class _RunBuffer:
    flow: str
    first_at: dt.datetime
    seq: int = 0
    states: list[dict[str, str]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)
    size: int = 0
    lines: int = 0
    dropped: int = 0
    kept: dict[str, Any] = field(default_factory=dict)  # inputs, labels, outputs


class HistoryRecorder:
    def __init__(self, store: Store, commit: str, ref: str | None, trigger: str | None,
                 runner: str | None, *, dirty: bool = False, log_cap: int = LOG_CAP,
                 secrets: Iterable[str] = (), seq_from: int = 0,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        check_commit(commit)
        self.store = store
        self.commit = commit
        self.ref = ref
        self.trigger = trigger
        self.runner = runner
        self.dirty = dirty
        self.log_cap = log_cap
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self.on_error = on_error
        self.seq_from = seq_from  # a taken-over run: its events go above the earlier attempts'
        self.errors: list[str] = []
        self.pointers: dict[str, str] = {}  # run → log pointer, once written
        self._runs: dict[str, _RunBuffer] = {}
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        try:
            with self._lock:
                if isinstance(event, ExecutionStateChanged):
                    self._state(event)
                elif isinstance(event, TaskRunStateChanged):
                    self._task(event)
                elif isinstance(event, LogLine):
                    self._log(event)
        except Exception as err:  # a history failure is reported, never fails the run
            self._report(err)

    def _report(self, err: Exception) -> None:
        self.errors.append(f"history: {err}")
        if self.on_error is not None:
            self.on_error(err)

    def _buffer(self, execution_id: str, flow: str, at: dt.datetime) -> _RunBuffer:
        buffer = self._runs.get(execution_id)
        if buffer is None:
            buffer = self._runs[execution_id] = _RunBuffer(flow=flow, first_at=at,
                                                                seq=self.seq_from)
        return buffer

    def _state(self, event: ExecutionStateChanged) -> None:
        buffer = self._buffer(event.execution_id, event.flow, event.at)
        buffer.flow = event.flow
        buffer.seq += 1
        buffer.states.append({"state": str(event.state), "t": iso(event.at)})
        dur_ms = log = None
        if event.state.terminal:
            for key in ("inputs", "labels", "outputs"):
                if getattr(event, key) is not None:
                    buffer.kept[key] = self._mask_value(getattr(event, key))
            if event.untrusted:  # kept only when true: older readers see run.json unchanged
                buffer.kept["untrusted"] = True
            dur_ms = int((event.at - buffer.first_at).total_seconds() * 1000)
            del self._runs[event.execution_id]
            try:
                log = self.store.write_log(event.execution_id, self._text(buffer),
                                           self._detail(event.execution_id, buffer, dur_ms))
                self.pointers[event.execution_id] = log
            except Exception as err:  # the final state is still recorded, without its log
                self._report(err)
        self.store.append(self.commit, [HistoryEvent(
            t=iso(event.at), run=event.execution_id, seq=buffer.seq, flow=event.flow,
            state=str(event.state), trigger=self.trigger, ref=self.ref, runner=self.runner,
            dur_ms=dur_ms, log=log, dirty=self.dirty)])

    def _task(self, event: TaskRunStateChanged) -> None:
        buffer = self._runs.get(event.execution_id)
        if buffer is None:
            return
        task = buffer.tasks.setdefault(event.task_run_id, {
            "id": event.task_run_id, "task": event.task_id, "value": event.value,
            "parent": event.parent, "states": []})
        task["states"].append({"state": str(event.state), "t": iso(event.at),
                               "attempt": event.attempt})
        task["state"] = str(event.state)
        task["attempts"] = max(event.attempt, task.get("attempts", 0))
        if event.outputs:
            task["outputs"] = self._mask_value(event.outputs)

    def _log(self, event: LogLine) -> None:
        buffer = self._runs.get(event.execution_id)
        if buffer is None:
            return
        who = event.task_id or "-"
        if event.attempt > 1:
            who += f"#{event.attempt}"
        line = f"{iso(event.at)} {who} {event.level} {self._mask(event.message)}\n"
        size = len(line.encode("utf-8", "replace"))
        if buffer.dropped or buffer.size + size > self.log_cap:
            buffer.dropped += 1
            return
        buffer.parts.append(line)
        buffer.size += size
        buffer.lines += 1

    def _text(self, buffer: _RunBuffer) -> str:
        text = "".join(buffer.parts)
        if buffer.dropped:
            text += (f"[gitflows] log truncated at {self.log_cap} bytes: "
                     f"{buffer.dropped} more lines were not kept\n")
        return text

    def _detail(self, run: str, buffer: _RunBuffer, dur_ms: int) -> dict[str, Any]:
        return {"run": run, "flow": buffer.flow, "commit": self.commit, "ref": self.ref,
                "trigger": self.trigger, "runner": self.runner, "dur_ms": dur_ms,
                "states": buffer.states, "tasks": list(buffer.tasks.values()),
                "log": {"bytes": buffer.size, "lines": buffer.lines,
                        "truncated": bool(buffer.dropped), "dropped_lines": buffer.dropped},
                **buffer.kept}

    def _mask(self, text: str) -> str:
        return mask_text(text, self.secrets)

    def _mask_value(self, value: Any) -> Any:
        return masked(value, self.secrets)
