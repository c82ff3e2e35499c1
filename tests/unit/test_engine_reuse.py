"""Re-running from a task: Engine.prepare(reuse=…) keeps earlier outputs instead of running
tasks again, and runner/engine/rerun.py picks which outputs to reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.engine.rerun import reuse_from, reuse_from_record
from runner.errors import UsageError
from runner.events import State
from tests.unit.engine_helpers import FLOW, RETURN, SHELL, Harness, final, flow_of, runs

FLAKY = f"""
id: flaky
namespace: demo
tasks:
  - id: first
    type: {SHELL}
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo ran >> "{{{{ vars.counter }}}}"
      - 'echo "::{{\\"outputs\\":{{\\"token\\":\\"{{{{ execution.id }}}}\\"}}}}::"'
  - id: group
    type: {FLOW}.Parallel
    tasks:
      - id: inner
        type: {RETURN}
        format: "inner of {{{{ execution.id }}}}"
  - id: second
    type: {RETURN}
    format: "{{{{ kv('fixed') }}}} {{{{ outputs.first.token }}}} {{{{ outputs.inner.value }}}}"
  - id: third
    type: {RETURN}
    format: "after {{{{ outputs.second.value }}}}"
variables:
  counter: COUNTER
"""


def _flaky(tmp_path: Path) -> str:
    return FLAKY.replace("COUNTER", str(tmp_path / "counter.txt"))


def test_rerun_from_a_failed_task_reuses_earlier_outputs(h: Harness, tmp_path: Path) -> None:
    text = _flaky(tmp_path)
    first = h.run(text)
    assert first.state.current is State.FAILED and final(first, "second") == "FAILED"
    assert (tmp_path / "counter.txt").read_text() == "ran\n"
    h.engine.kv.set("demo", "fixed", "yes")

    reuse = reuse_from(first, "second")
    assert set(reuse) == {"first", "group", "inner"}
    again = h.engine.execute(h.engine.prepare(flow_of(text), reuse=reuse))
    assert again.state.current is State.SUCCESS
    assert (tmp_path / "counter.txt").read_text() == "ran\n"  # first was not run again
    value = runs(again, "second")[0]["outputs"]["value"]
    assert value == f"yes {first.id} inner of {first.id}"  # outputs of the first execution
    assert runs(again, "third")[0]["outputs"]["value"] == f"after {value}"
    reused = runs(again, "first")[0]
    assert reused["state"]["current"] == "SUCCESS" and reused["attempts"] == []
    assert reused["outputs"]["token"] == first.id
    assert runs(again, "inner") == []  # a reused flowable's subtasks do not run either
    assert "not run again: outputs reused from the earlier run" in h.logs("first")
    # the re-run keeps its own outputs for a re-run of it in turn
    assert again.task_outputs["second"]["value"] == value


def test_reuse_from_keeps_only_top_level_successes_before_the_task(h: Harness,
                                                                   tmp_path: Path) -> None:
    first = h.run(_flaky(tmp_path))
    assert set(reuse_from(first, "first")) == set()
    assert set(reuse_from(first, "third")) == {"first", "group", "inner"}  # second failed: runs again
    with pytest.raises(UsageError, match="not a top-level task"):
        reuse_from(first, "inner")
    with pytest.raises(UsageError, match="not a top-level task"):
        reuse_from(first, "nope")


def test_reuse_does_not_apply_to_errors_or_nested_tasks(h: Harness) -> None:
    text = f"""
    id: errs
    namespace: demo
    tasks:
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
    errors:
      - id: handler
        type: {RETURN}
        format: handled
    """
    execution = h.engine.execute(h.engine.prepare(flow_of(text), reuse={"handler": {"value": "x"}}))
    assert execution.state.current is State.FAILED
    assert runs(execution, "handler")[0]["outputs"]["value"] == "handled"


LOOPS = f"""
id: loops
namespace: demo
tasks:
  - id: each
    type: {FLOW}.ForEach
    values: ["a", "b"]
    tasks:
      - id: inner
        type: {FLOW}.ForEach
        values: ["x", "y"]
        tasks:
          - id: leaf
            type: {RETURN}
            format: "{{{{ parents[0].taskrun.value }}}}-{{{{ taskrun.value }}}}"
  - id: plain
    type: {RETURN}
    format: "plain"
  - id: last
    type: {RETURN}
    format: "{{{{ kv('fixed') }}}} {{{{ outputs.leaf.b.y.value }}}} {{{{ outputs.plain.value }}}}"
"""


def _recorded(h: Harness, execution_id: str) -> dict[str, object]:
    """The run.json the history recorder writes for the events the harness saw."""
    from runner.history.recorder import HistoryRecorder
    from runner.history.store import MemoryStore

    store = MemoryStore()
    recorder = HistoryRecorder(store, "c" * 40, None, "manual", "test")
    for event in h.events.events:
        if event.execution_id == execution_id:
            recorder.emit(event)
    detail = store.detail(execution_id)
    assert detail is not None
    return detail


@pytest.mark.parametrize("text", ["flaky", "loops"])
def test_reuse_from_a_recorded_run_matches_the_live_one(h: Harness, tmp_path: Path,
                                                        text: str) -> None:
    source = _flaky(tmp_path) if text == "flaky" else LOOPS
    first = h.run(source)
    assert first.state.current is State.FAILED  # kv('fixed') is not set yet
    detail = _recorded(h, first.id)
    flow = flow_of(source)
    for task in [t.id for t in flow.tasks]:
        assert reuse_from_record(flow, detail, task) == reuse_from(first, task), task
    if text == "loops":
        h.engine.kv.set("demo", "fixed", "yes")
        again = h.engine.execute(h.engine.prepare(flow, reuse=reuse_from_record(flow, detail, "last")))
        assert again.state.current is State.SUCCESS
        leaf = first.task_outputs["leaf"]["b"]["y"]["value"]
        assert runs(again, "last")[0]["outputs"]["value"] == f"yes {leaf} plain"
        assert runs(again, "leaf") == []
    with pytest.raises(UsageError, match="not a top-level task"):
        reuse_from_record(flow, detail, "nope")


def test_reuse_from_an_old_run_json_without_parents() -> None:
    flow = flow_of(LOOPS)
    old = {"tasks": [
        {"id": "1", "task": "each", "value": None, "state": "SUCCESS"},
        {"id": "2", "task": "plain", "value": None, "state": "SUCCESS", "outputs": {"value": "p"}},
        {"id": "3", "task": "last", "value": None, "state": "FAILED"}]}
    assert reuse_from_record(flow, old, "last") == {"each": {}, "plain": {"value": "p"}}
