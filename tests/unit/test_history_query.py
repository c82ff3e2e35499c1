"""The data and text behind `flows history`, `flows show` and `flows logs`; bisect over history."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from runner.history import query
from runner.history.bisect import first_failure, recorded_states
from runner.history.records import HistoryEvent
from runner.history.store import MemoryStore

C1, C2 = "a" * 40, "b" * 40


def ev(run: str, seq: int, state: str, second: int, flow: str = "ns.f", **extra: Any) -> HistoryEvent:
    return HistoryEvent(t=f"2026-01-01T00:00:{second:02d}.000Z", run=run, seq=seq, flow=flow,
                        state=state, **extra)


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.append(C1, [ev("01AAA", 1, "RUNNING", 0, ref="refs/heads/main", trigger="push"),
                      ev("01AAA", 2, "FAILED", 5, dur_ms=5000, ref="refs/heads/main",
                         trigger="push")])
    pointer = store.write_log("01BBB", "hello\n", {"tasks": [
        {"task": "build", "state": "SUCCESS", "attempts": 2, "outputs": {"n": 1},
         "states": [{"state": "RUNNING", "t": "2026-01-01T00:00:11.000Z"},
                    {"state": "SUCCESS", "t": "2026-01-01T00:00:13.500Z"}]}],
        "log": {"lines": 1, "bytes": 6, "truncated": False}})
    store.append(C2, [ev("01BBB", 1, "RUNNING", 10, flow="ns.g", ref="dev", trigger="manual"),
                      ev("01BBB", 2, "SUCCESS", 14, flow="ns.g", ref="dev", trigger="manual",
                         dur_ms=4000, log=pointer)])
    return store


def test_history_rows_and_json_contract(store: MemoryStore) -> None:
    rows = query.history(store)
    assert [r.run for r in rows] == ["01BBB", "01AAA"]
    assert query.history_json(rows)[1] == {
        "run": "01AAA", "flow": "ns.f", "state": "FAILED", "commit": C1, "ref": "refs/heads/main",
        "trigger": "push", "started": "2026-01-01T00:00:00.000Z", "dur_ms": 5000}
    assert [r.run for r in query.history(store, state="FAILED")] == ["01AAA"]
    assert [r.run for r in query.history(store, ref="main")] == ["01AAA"]
    assert [r.run for r in query.history(store, flow="ns.g", limit=5)] == ["01BBB"]
    json.dumps(query.history_json(rows))


def test_format_history_is_an_aligned_table(store: MemoryStore) -> None:
    text = query.format_history(query.history(store))
    header, first, second = text.splitlines()
    assert header.split()[:3] == ["RUN", "FLOW", "STATE"]
    assert first.split()[:5] == ["01BBB", "ns.g", "SUCCESS", "b" * 10, "dev"]
    assert "5.0s" in second and "main" in second
    assert query.format_history([]) == "no recorded runs\n"


def test_show_resolves_prefixes_and_renders_states_and_tasks(store: MemoryStore) -> None:
    detail = query.show(store, "01b")
    assert detail.summary.run == "01BBB"
    assert [e.state for e in detail.events] == ["RUNNING", "SUCCESS"]
    text = query.format_show(detail)
    assert "state    SUCCESS" in text and "+4.0s  SUCCESS" in text
    assert "build" in text and "2.5s" in text and "(2 attempts)" in text and "n = 1" in text
    data = query.show_json(detail)
    assert data["states"][1] == {"state": "SUCCESS", "t": "2026-01-01T00:00:14.000Z", "seq": 2}
    assert data["tasks"][0]["task"] == "build"
    with pytest.raises(query.UnknownRunError, match="ambiguous"):
        query.show(store, "01")
    with pytest.raises(query.UnknownRunError, match="no recorded run"):
        query.show(store, "ZZZ")


def test_logs(store: MemoryStore) -> None:
    assert query.logs(store, "01BBB") == "hello\n"
    with pytest.raises(query.UnknownRunError, match="has no log"):
        query.logs(store, "01AAA")


def test_durations_read_well() -> None:
    assert [query.format_duration_ms(v) for v in (None, 12, 1500, 75_000, 7_300_000)] == [
        "-", "12ms", "1.5s", "1m15s", "2h01m"]


# -- bisect --------------------------------------------------------------------
COMMITS = [f"{i:040x}" for i in range(20)]


def runner_of(first_bad: int, calls: list[str]) -> Callable[[str], str]:
    def run_at(commit: str) -> str:
        calls.append(commit)
        return "FAILED" if COMMITS.index(commit) >= first_bad else "SUCCESS"
    return run_at


def test_bisect_uses_history_and_runs_only_the_unknown_gap() -> None:
    recorded = {(COMMITS[2], "ns.f"): "SUCCESS", (COMMITS[5], "ns.f"): "SUCCESS",
                (COMMITS[14], "ns.f"): "FAILED", (COMMITS[19], "ns.f"): "FAILED",
                (COMMITS[10], "other.flow"): "FAILED"}
    calls: list[str] = []
    result = first_failure(COMMITS, "ns.f", recorded, runner_of(9, calls))
    assert result.first_bad == COMMITS[9] and result.last_good == COMMITS[8]
    assert result.candidates == (COMMITS[9],)
    assert set(calls) <= set(COMMITS[6:14]) and len(calls) <= 4  # log2 of the 8-commit gap
    assert result.ran == tuple(calls)


def test_bisect_with_full_history_runs_nothing() -> None:
    recorded = {(c, "ns.f"): ("FAILED" if i >= 7 else "SUCCESS") for i, c in enumerate(COMMITS)}
    calls: list[str] = []
    result = first_failure(COMMITS, "ns.f", recorded, runner_of(7, calls))
    assert (result.first_bad, calls) == (COMMITS[7], [])


def test_bisect_without_history_and_with_a_passing_head() -> None:
    calls: list[str] = []
    result = first_failure(COMMITS, "ns.f", {}, runner_of(3, calls))
    assert result.first_bad == COMMITS[3] and len(calls) <= 6
    assert first_failure(COMMITS, "ns.f", {}, runner_of(99, [])).first_bad is None
    everything_bad = first_failure(COMMITS, "ns.f", {}, runner_of(0, []))
    assert (everything_bad.first_bad, everything_bad.last_good) == (COMMITS[0], None)


def test_bisect_skips_unusable_commits_and_reports_candidates() -> None:
    recorded = {(COMMITS[0], "ns.f"): "SUCCESS", (COMMITS[4], "ns.f"): "FAILED"}

    def run_at(commit: str) -> str:
        return "KILLED" if commit in COMMITS[2:4] else "SUCCESS"

    result = first_failure(COMMITS[:5], "ns.f", recorded, run_at)
    assert result.last_good == COMMITS[1]
    assert result.candidates == (COMMITS[2], COMMITS[3], COMMITS[4])


def test_recorded_states_take_the_newest_finished_run_per_commit() -> None:
    store = MemoryStore()
    store.append(C1, [ev("R1", 1, "FAILED", 1)])
    store.append(C1, [ev("R2", 1, "SUCCESS", 2)])
    store.append(C2, [ev("R3", 1, "RUNNING", 3)])
    assert recorded_states(store, "ns.f") == {(C1, "ns.f"): "SUCCESS"}
