"""Whatever a flow names its tasks and whatever its logs say, a commit status
description is at most 140 characters of valid UTF-8 on one line."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.events import ExecutionStateChanged, LogLine, State, TaskRunStateChanged
from runner.http import Response
from runner.reporters.commit_status import StatusReporter
from runner.reporters.status_text import DESCRIPTION_LIMIT, RunSummary, clean, truncate

T0 = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
FINAL = [State.SUCCESS, State.WARNING, State.FAILED, State.KILLED, State.CANCELLED, State.SKIPPED]
# any characters, with lone surrogates, controls, line separators and marks well represented
texts = st.text(st.one_of(st.characters(), st.characters(categories=["Cs", "Cc", "Zl", "Zp", "Mn"])),
                max_size=400)


def _ok(description: str) -> None:
    assert len(description) <= DESCRIPTION_LIMIT
    assert description.encode("utf-8").decode("utf-8") == description  # strict: no surrogates
    assert "\n" not in description and "\r" not in description


@settings(max_examples=300, deadline=None)
@given(task=texts, message=st.one_of(st.none(), texts), state=st.sampled_from(FINAL),
       seconds=st.one_of(st.none(), st.floats(0, 10**7)), reason=st.one_of(st.none(), texts))
def test_descriptions_are_short_valid_utf8(task: str, message: str | None, state: State,
                                           seconds: float | None, reason: str | None) -> None:
    summary = RunSummary("demo.hello", state, seconds, task or None, message, reason=reason)
    _ok(summary.description())
    _ok(summary.title())
    summary.summary().encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(text=texts, limit=st.integers(1, 300))
def test_truncate_respects_any_limit(text: str, limit: int) -> None:
    cut = truncate(clean(text), limit)
    assert len(cut) <= limit
    assert cut == clean(text) or cut.endswith("…")


class _Sent:
    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def request(self, method: str, url: str, body: Any = None, **_: Any) -> Response:
        self.bodies.append(body)
        return Response(201, {})


@settings(max_examples=150, deadline=None)
@given(task=texts.filter(bool), lines=st.lists(st.tuples(
    st.sampled_from(["INFO", "WARN", "ERROR"]), texts), max_size=8))
def test_reported_descriptions_stay_valid_for_any_task_and_log(task: str,
                                                                lines: list[tuple[str, str]]) -> None:
    sent = _Sent()
    reporter = StatusReporter("github", "http://forge", "token", "o/r", "a" * 40, "d.h",
                              transport=sent, background=False)  # type: ignore[arg-type]
    reporter.pending()
    reporter.emit(ExecutionStateChanged("E", "d.h", State.RUNNING, T0))
    for level, message in lines:
        reporter.emit(LogLine("E", "TR", task, 1, level, message, T0))
    reporter.emit(TaskRunStateChanged("E", "TR", task, None, 1, State.FAILED, T0))
    reporter.emit(ExecutionStateChanged("E", "d.h", State.FAILED, T0))
    assert [b["state"] for b in sent.bodies] == ["pending", "failure"]
    for body in sent.bodies:
        _ok(body["description"])
