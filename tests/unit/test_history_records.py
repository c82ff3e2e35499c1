"""History records and the in-memory store: event lines, cat_sort_uniq union, summaries, prune."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from runner.history.records import (
    HistoryEvent,
    RunFilter,
    events_of,
    parse_line,
    run_of_line,
    summarize,
    union_lines,
)
from runner.history.store import MemoryStore, select_pruned

C1 = "1" * 40
C2 = "2" * 40


def ev(run: str, seq: int, state: str, t: str = "2026-11-26T16:43:22.349Z", flow: str = "ns.f",
       **extra: Any) -> HistoryEvent:
    return HistoryEvent(t=t, run=run, seq=seq, flow=flow, state=state, **extra)


def test_event_line_is_canonical_json_with_sorted_keys_and_no_spaces() -> None:
    line = ev("01RUN", 2, "SUCCESS", trigger="push", ref="main", runner="laptop", dur_ms=12,
              log="ab" * 20).line()
    assert line == (b'{"dur_ms":12,"flow":"ns.f","log":"' + b"ab" * 20 + b'","ref":"main",'
                    b'"run":"01RUN","runner":"laptop","seq":2,"state":"SUCCESS",'
                    b'"t":"2026-11-26T16:43:22.349Z","trigger":"push","v":1}')
    assert json.loads(line) == {**ev("01RUN", 2, "SUCCESS").to_json(), "trigger": "push",
                                "ref": "main", "runner": "laptop", "dur_ms": 12, "log": "ab" * 20}
    assert b" " not in ev("R", 1, "RUNNING").line()
    assert parse_line(line) == ev("01RUN", 2, "SUCCESS", trigger="push", ref="main",
                                  runner="laptop", dur_ms=12, log="ab" * 20)


def test_optional_fields_are_left_out_and_dirty_only_when_true() -> None:
    assert set(json.loads(ev("R", 1, "RUNNING").line())) == {"t", "run", "seq", "v", "flow", "state"}
    assert json.loads(ev("R", 1, "RUNNING", dirty=True).line())["dirty"] is True


def test_parse_line_ignores_junk_and_keeps_reading_newer_fields() -> None:
    assert parse_line(b"not json") is None
    assert parse_line(b'{"run":"x"}') is None
    newer = parse_line(b'{"flow":"a.b","run":"R","seq":1,"state":"RUNNING",'
                       b'"t":"2026-01-01T00:00:00.000Z","v":2,"new":{"x":1}}')
    assert newer is not None and newer.v == 2


def test_union_is_cat_sort_uniq() -> None:
    a, b, c = ev("A", 1, "RUNNING").line(), ev("A", 2, "SUCCESS").line(), ev("B", 1, "RUNNING").line()
    merged = union_lines(c + b"\n" + a + b"\n\n", a + b"\n" + b + b"\n")
    assert merged == b"".join(line + b"\n" for line in sorted([a, b, c]))
    assert union_lines(merged, merged) == merged
    assert union_lines(b"") == b""


def test_run_of_line_finds_the_run_without_parsing() -> None:
    assert run_of_line(ev("01ABC", 1, "RUNNING").line()) == "01ABC"
    assert run_of_line(b'{"x":1}') is None


def test_summary_takes_the_state_of_the_highest_seq() -> None:
    events = [ev("R", 3, "SUCCESS", t="2026-01-01T00:00:03.000Z", dur_ms=3000, log="p"),
              ev("R", 1, "CREATED", t="2026-01-01T00:00:00.000Z", trigger="push", ref="main"),
              ev("R", 2, "RUNNING", t="2026-01-01T00:00:01.000Z")]
    summary = summarize(C1, events)
    assert (summary.state, summary.started, summary.dur_ms, summary.log, summary.seq) == (
        "SUCCESS", "2026-01-01T00:00:00.000Z", 3000, "p", 3)
    assert summary.to_json() == {"run": "R", "flow": "ns.f", "state": "SUCCESS", "commit": C1,
                                 "ref": "main", "trigger": "push",
                                 "started": "2026-01-01T00:00:00.000Z", "dur_ms": 3000}


def test_memory_store_lists_newest_first_with_filters() -> None:
    store = MemoryStore()
    store.append(C1, [ev("R1", 1, "RUNNING", t="2026-01-01T00:00:00.000Z", ref="refs/heads/main"),
                      ev("R1", 2, "FAILED", t="2026-01-01T00:00:05.000Z", ref="refs/heads/main")])
    store.append(C2, [ev("R2", 1, "SUCCESS", t="2026-01-02T00:00:00.000Z", ref="dev",
                         flow="ns.g")])
    store.append(C2, [ev("R2", 1, "SUCCESS", t="2026-01-02T00:00:00.000Z", ref="dev",
                         flow="ns.g")])  # idempotent
    assert [s.run for s in store.runs()] == ["R2", "R1"]
    assert [s.run for s in store.runs(RunFilter(state="failed"))] == ["R1"]
    assert [s.run for s in store.runs(RunFilter(ref="main"))] == ["R1"]
    assert [s.run for s in store.runs(RunFilter(flow="ns.g"))] == ["R2"]
    assert [s.run for s in store.runs(RunFilter(limit=1))] == ["R2"]
    assert [e.seq for e in store.run("R1")] == [1, 2]
    assert store.run("nope") == []
    assert store.notes[C2].count(b"\n") == 1


def test_memory_store_rejects_short_commit_ids() -> None:
    with pytest.raises(ValueError, match="full"):
        MemoryStore().append("abc123", [ev("R", 1, "RUNNING")])


def test_prune_selection_by_age_and_count() -> None:
    store = MemoryStore()
    for day in range(1, 6):
        store.append(C1, [ev(f"R{day}", 1, "SUCCESS", t=f"2026-01-0{day}T00:00:00.000Z")])
    newest = store.runs(RunFilter(limit=None))
    now = dt.datetime(2026, 1, 6, tzinfo=dt.UTC)
    assert [s.run for s in select_pruned(newest, 2.5, None, now)] == ["R3", "R2", "R1"]
    assert [s.run for s in select_pruned(newest, None, 4, now)] == ["R1"]
    assert [s.run for s in select_pruned(newest, 4.5, 2, now)] == ["R3", "R2", "R1"]
    store.write_log("R1", "old log", {})
    result = store.prune(keep_runs=3, now=now)
    assert (result.runs, result.notes, result.logs) == (2, 1, 1)
    assert [s.run for s in store.runs()] == ["R5", "R4", "R3"]
    assert store.logs("R1") is None
    assert store.prune(keep_runs=0).notes == 1 and store.notes == {}


def test_events_of_filters_one_run_in_seq_order() -> None:
    content = union_lines([ev("A", 2, "SUCCESS").line(), ev("B", 1, "RUNNING").line(),
                           ev("A", 1, "RUNNING").line()])
    assert [(e.run, e.seq) for e in events_of(content, "A")] == [("A", 1), ("A", 2)]
    assert len(events_of(content)) == 3
