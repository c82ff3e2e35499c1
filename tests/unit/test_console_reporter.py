"""ConsoleReporter's heartbeat and outputs, driven by events and a hand-moved clock."""

from __future__ import annotations

import datetime as dt
import io

from runner.events import ExecutionStateChanged, LogLine, State, TaskRunStateChanged
from runner.reporters.console import ConsoleReporter, elapsed, format_outputs, heartbeat_seconds

AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _task(state: State, run: str = "tr1", task: str = "build") -> TaskRunStateChanged:
    return TaskRunStateChanged("ex1", run, task, None, 1, state, AT)


def test_heartbeat_only_for_a_task_silent_a_whole_interval() -> None:
    out, clock = io.StringIO(), Clock()
    console = ConsoleReporter(out, heartbeat=30, clock=clock, colour=False)
    console.emit(_task(State.RUNNING))
    clock.now = 29
    console.beat()
    assert "still running" not in out.getvalue()
    clock.now = 30
    console.beat()
    assert out.getvalue().splitlines()[-1] == "… build still running (30s)"
    clock.now = 50
    console.emit(LogLine("ex1", "tr1", "build", 1, "INFO", "a line", AT))  # output resets it
    clock.now = 79
    console.beat()
    assert out.getvalue().count("still running") == 1
    clock.now = 90
    console.beat()
    assert out.getvalue().splitlines()[-1] == "… build still running (1m30s)"
    console.emit(_task(State.SUCCESS))
    clock.now = 500
    console.beat()
    assert out.getvalue().count("still running") == 2


def test_outputs_are_the_top_executions_not_a_subflows() -> None:
    console = ConsoleReporter(io.StringIO(), colour=False)
    console.emit(ExecutionStateChanged("top", "demo.a", State.RUNNING, AT))
    console.emit(ExecutionStateChanged("sub", "demo.b", State.SUCCESS, AT, outputs={"x": 1}))
    assert console.outputs is None
    console.emit(ExecutionStateChanged("top", "demo.a", State.SUCCESS, AT, outputs={"y": "2"}))
    assert console.outputs == {"y": "2"}
    assert format_outputs(console.outputs) == "outputs:\n  y: 2"


def test_interval_and_elapsed_formats() -> None:
    assert heartbeat_seconds({}) == 30
    assert heartbeat_seconds({"GITFLOWS_HEARTBEAT_SECONDS": "0.5"}) == 0.5
    assert heartbeat_seconds({"GITFLOWS_HEARTBEAT_SECONDS": "nope"}) == 30
    assert heartbeat_seconds({"GITFLOWS_HEARTBEAT_SECONDS": "-3"}) == 0
    assert [elapsed(s) for s in (0, 59.9, 60, 94, 3599, 3600, 7500)] == \
        ["0s", "59s", "1m00s", "1m34s", "59m59s", "1h00m", "2h05m"]
