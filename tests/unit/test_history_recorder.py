"""HistoryRecorder: engine events become history events, a log and a detail document."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from runner.engine.engine import Engine
from runner.events import (
    ExecutionStateChanged,
    FanOut,
    LogLine,
    State,
    TaskRunStateChanged,
)
from runner.executors import Executors, LocalExecutor
from runner.history.notes import NotesStore
from runner.history.recorder import HistoryRecorder
from runner.history.store import MemoryStore
from tests.unit.engine_helpers import flow_of

COMMIT = "c" * 40
T0 = dt.datetime(2026, 11, 26, 16, 43, 22, 349000, tzinfo=dt.UTC)


def at(ms: int) -> dt.datetime:
    return T0 + dt.timedelta(milliseconds=ms)


def test_states_become_events_and_the_final_one_carries_duration_and_log() -> None:
    store = MemoryStore()
    rec = HistoryRecorder(store, COMMIT, "refs/heads/main", "push", "laptop", secrets=["hunter2"])
    rec.emit(ExecutionStateChanged("RUN1", "ns.f", State.RUNNING, at(0)))
    rec.emit(TaskRunStateChanged("RUN1", "tr1", "hello", None, 1, State.RUNNING, at(10)))
    rec.emit(LogLine("RUN1", "tr1", "hello", 1, "INFO", "password is hunter2", at(20)))
    rec.emit(TaskRunStateChanged("RUN1", "tr1", "hello", None, 1, State.SUCCESS, at(30),
                                 {"value": "hunter2!"}))
    assert [e.state for e in store.run("RUN1")] == ["RUNNING"]  # visible while running
    rec.emit(ExecutionStateChanged("RUN1", "ns.f", State.SUCCESS, at(1500)))
    events = store.run("RUN1")
    assert [(e.seq, e.state) for e in events] == [(1, "RUNNING"), (2, "SUCCESS")]
    final = events[-1]
    assert (final.dur_ms, final.log, final.t) == (1500, rec.pointers["RUN1"], "2026-11-26T16:43:23.849Z")
    assert (final.ref, final.trigger, final.runner) == ("refs/heads/main", "push", "laptop")
    assert events[0].dur_ms is None and events[0].log is None
    assert store.logs("RUN1") == "2026-11-26T16:43:22.369Z hello INFO password is ******\n"
    detail = store.detail("RUN1")
    assert detail is not None
    assert detail["states"] == [{"state": "RUNNING", "t": "2026-11-26T16:43:22.349Z"},
                                {"state": "SUCCESS", "t": "2026-11-26T16:43:23.849Z"}]
    [task] = detail["tasks"]
    assert (task["task"], task["state"], task["outputs"]) == ("hello", "SUCCESS", {"value": "******!"})
    assert rec.errors == []


def test_log_is_capped_with_a_marker() -> None:
    store = MemoryStore()
    rec = HistoryRecorder(store, COMMIT, None, None, None, log_cap=200)
    rec.emit(ExecutionStateChanged("R", "ns.f", State.RUNNING, at(0)))
    for i in range(50):
        rec.emit(LogLine("R", None, "t", 1, "INFO", f"line {i:03d}", at(i)))
    rec.emit(ExecutionStateChanged("R", "ns.f", State.FAILED, at(60)))
    text = store.logs("R")
    assert text is not None
    body, marker = text.rsplit("\n", 2)[0], text.splitlines()[-1]
    assert len(body.encode()) <= 200
    assert marker.startswith("[gitflows] log truncated at 200 bytes: ")
    assert store.detail("R")["log"]["truncated"] is True  # type: ignore[index]


def test_history_failures_never_reach_the_engine() -> None:
    class Broken(MemoryStore):
        def append(self, commit: str, events: object) -> None:  # type: ignore[override]
            raise OSError("disk full")

    seen: list[Exception] = []
    rec = HistoryRecorder(Broken(), COMMIT, None, None, None, on_error=seen.append)
    rec.emit(ExecutionStateChanged("R", "ns.f", State.RUNNING, at(0)))
    assert rec.errors == ["history: disk full"] and len(seen) == 1


def test_a_real_engine_run_recorded_into_git_notes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", "commit",
                    "-q", "--allow-empty", "-m", "c"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    store = NotesStore(repo)
    recorder = HistoryRecorder(store, head, "refs/heads/main", "manual", "test")
    engine = Engine(Executors(LocalExecutor()), FanOut(recorder), data_dir=tmp_path / "data",
                    work_root=tmp_path / "work")
    execution = engine.run(flow_of("""
        id: hello
        namespace: demo
        tasks:
          - id: say
            type: io.kestra.plugin.core.log.Log
            message: hello from the engine
          - id: out
            type: io.kestra.plugin.core.debug.Return
            format: "42"
    """))
    assert recorder.errors == []
    [summary] = store.runs()
    assert (summary.run, summary.flow, summary.state, summary.commit) == (
        execution.id, "demo.hello", "SUCCESS", head)
    assert summary.dur_ms is not None and summary.log == recorder.pointers[execution.id]
    log = store.logs(execution.id)
    assert log is not None and "say INFO hello from the engine" in log
    detail = store.detail(execution.id)
    assert detail is not None
    assert [t["task"] for t in detail["tasks"]] == ["say", "out"]
    assert detail["tasks"][1]["outputs"] == {"value": "42"}


def test_run_json_keeps_inputs_labels_outputs_and_parents_with_secrets_masked(tmp_path: Path) -> None:
    store = MemoryStore()
    recorder = HistoryRecorder(store, COMMIT, "refs/heads/main", "manual", "test")
    engine = Engine(Executors(LocalExecutor()), FanOut(recorder), data_dir=tmp_path / "data",
                    work_root=tmp_path / "work", environ={"SECRET_TOKEN": "czNjcjN0LXZhbA=="})
    execution = engine.run(flow_of("""
        id: kept
        namespace: demo
        labels: {team: infra}
        inputs:
          - {id: who, type: STRING, defaults: world}
          - {id: password, type: SECRET, defaults: hunter22}
          - {id: copy, type: STRING}
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a"]
            tasks:
              - id: say
                type: io.kestra.plugin.core.debug.Return
                format: "{{ taskrun.value }} {{ secret('TOKEN') }}"
        outputs:
          - id: greeting
            type: STRING
            value: "hello {{ inputs.who }}, {{ secret('TOKEN') }}"
    """), {"copy": "s3cr3t-val"}, labels={"by": "test"})
    assert execution.state.current is State.SUCCESS
    detail = store.detail(execution.id)
    assert detail is not None
    # a SECRET input whole, a plain input holding a secret value the run used: masked
    assert detail["inputs"] == {"who": "world", "password": "******", "copy": "******"}
    assert detail["labels"] == {"team": "infra", "by": "test"}
    assert detail["outputs"] == {"greeting": "hello world, ******"}
    parent, child = detail["tasks"]
    assert (parent["task"], parent["parent"]) == ("each", None)
    assert (child["task"], child["parent"]) == ("say", parent["id"])


def test_an_old_run_json_without_the_later_keys_still_reads(tmp_path: Path) -> None:
    from webhooks.runs.recorded import execution as recorded_execution

    old = {"run": "R", "flow": "ns.f", "states": [{"state": "SUCCESS", "t": "2026-11-26T16:43:22.349Z"}],
           "tasks": [{"id": "tr1", "task": "t", "value": None, "state": "SUCCESS",
                      "states": [{"state": "SUCCESS", "t": "2026-11-26T16:43:22.349Z", "attempt": 1}]}]}
    shown = {"run": "R", "flow": "ns.f", "states": []}
    answer = recorded_execution(shown, old, None)
    assert (answer["inputs"], answer["outputs"], answer["labels"]) == ({}, {}, [])
    assert answer["taskRunList"][0]["parentTaskRunId"] is None


def test_an_untrusted_run_is_recorded_as_such_so_a_later_re_run_stays_untrusted(
        tmp_path: Path) -> None:
    store = MemoryStore()
    rec = HistoryRecorder(store, COMMIT, "refs/pull/7/head", "pull_request", "laptop")
    trusted = Engine(Executors(LocalExecutor()), rec, data_dir=tmp_path / "d", work_root=tmp_path)
    forked = Engine(Executors(LocalExecutor(), untrusted=True), rec, data_dir=tmp_path / "d",
                    work_root=tmp_path)
    flow = flow_of("""
        id: f
        namespace: ns
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: hi
        """)
    mine, theirs = trusted.run(flow), forked.run(flow)
    assert "untrusted" not in (store.detail(mine.id) or {})  # run.json unchanged for trusted runs
    assert (store.detail(theirs.id) or {}).get("untrusted") is True
