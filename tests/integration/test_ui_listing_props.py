"""Properties of the UI listing's parsers and filters: the recorded log text parses back into
the lines the engine emitted (through the real HistoryRecorder), and the run index's search
(SQL) keeps exactly the runs the filters describe, newest id first."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.events import ExecutionStateChanged, LogLine, State
from runner.history.index import RunIndex, RunSearch
from runner.history.recorder import HistoryRecorder
from runner.history.records import RunSummary
from runner.history.store import MemoryStore
from webhooks.runs.recorded import log_lines
from webhooks.ui.listing import within

COMMIT = "a" * 40
START = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

task_ids = st.none() | st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,12}", fullmatch=True)
messages = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=40)
levels = st.sampled_from(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(task_ids, st.integers(1, 4), levels, messages), max_size=12))
def test_recorded_log_text_parses_back_into_its_lines(lines: list[tuple[str | None, int, str, str]]) -> None:
    store = MemoryStore()
    recorder = HistoryRecorder(store, COMMIT, "main", "manual", "test")
    recorder.emit(ExecutionStateChanged("RUN1", "demo.flow", State.RUNNING, START))
    for n, (task, attempt, level, message) in enumerate(lines):
        recorder.emit(
            LogLine(
                "RUN1",
                task and f"tr-{task}",
                task,
                attempt if task else 0,
                level,
                message,
                START + dt.timedelta(milliseconds=n),
            )
        )
    recorder.emit(ExecutionStateChanged("RUN1", "demo.flow", State.SUCCESS, START + dt.timedelta(seconds=1)))
    parsed = log_lines(store.logs("RUN1"))
    assert [(p["taskId"], p["attemptNumber"], p["level"], p["message"]) for p in parsed] == [
        (task, attempt if task else 0, level, message) for task, attempt, level, message in lines
    ]


def test_a_message_of_several_lines_stays_one_log_line() -> None:
    text = (
        "2026-01-02T03:04:05.000Z build#2 ERROR first\n  second\nthird\n2026-01-02T03:04:06.000Z - INFO x\n"
    )
    assert [(p["taskId"], p["attemptNumber"], p["message"]) for p in log_lines(text)] == [
        ("build", 2, "first\n  second\nthird"),
        (None, 0, "x"),
    ]


namespaces = st.sampled_from(["a", "a.b", "a.b.c", "ab", "b", "b.a"])
summaries = st.builds(
    lambda n, ns, flow, state, trigger: RunSummary(
        run=f"01J{n:023d}",
        flow=f"{ns}.{flow}",
        state=state,
        commit=COMMIT,
        ref="main",
        trigger=trigger,
        started=f"2026-01-01T00:00:{n % 60:02d}.000Z",
        dur_ms=5,
    ),
    st.integers(0, 10**6),
    namespaces,
    st.sampled_from(["x", "y"]),
    st.sampled_from(["SUCCESS", "FAILED", "RUNNING"]),
    st.sampled_from(["push", "manual", "schedule"]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(summaries, max_size=30, unique_by=lambda s: s.run),
    st.builds(
        RunSearch,
        before=st.none() | st.integers(0, 10**6).map(lambda n: f"01J{n:023d}"),
        state=st.none() | st.sampled_from(["SUCCESS", "failed"]),
        flow=st.none() | st.sampled_from(["a.x", "a.b.y", "ab.x"]),
        namespace=st.none() | namespaces,
        trigger=st.none() | st.sampled_from(["push", "manual"]),
        text=st.none() | st.from_regex(r"[0-9]{1,3}", fullmatch=True),
        limit=st.integers(1, 40),
    ),
)
def test_the_index_search_keeps_what_the_filters_say(runs: list[RunSummary], wanted: RunSearch) -> None:
    index = RunIndex(None, source="test")
    try:
        assert index.update(None, "tip", runs, [])
        expected = sorted(
            (
                r.run
                for r in runs
                if (
                    (wanted.before is None or r.run < wanted.before)
                    and (wanted.state is None or r.state == wanted.state.upper())
                    and (wanted.flow is None or r.flow == wanted.flow)
                    and (wanted.namespace is None or within(r.flow.rpartition(".")[0], wanted.namespace))
                    and (wanted.trigger is None or r.trigger == wanted.trigger)
                    and (wanted.text is None or wanted.text in r.run)
                )
            ),
            reverse=True,
        )[: wanted.limit]
        assert [r.run for r in index.search(wanted)] == expected
    finally:
        index.close()


@settings(max_examples=100, deadline=None)
@given(st.lists(summaries, max_size=40, unique_by=lambda s: s.run), st.integers(1, 4))
def test_latest_per_flow_is_each_flows_newest_runs(runs: list[RunSummary], count: int) -> None:
    index = RunIndex(None, source="test")
    try:
        assert index.update(None, "tip", runs, [])
        expected: dict[str, list[str]] = {}
        for r in sorted(runs, key=lambda r: (r.started, r.run), reverse=True):
            if len(expected.setdefault(r.flow, [])) < count:
                expected[r.flow].append(r.run)
        found: dict[str, list[str]] = {}
        for r in index.latest_per_flow(count):
            found.setdefault(r.flow, []).append(r.run)
        assert found == expected
    finally:
        index.close()
