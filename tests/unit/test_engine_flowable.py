"""Flowable tasks: Sequential, Parallel, If, Switch, ForEach, Dag, AllowFailure,
WorkingDirectory, Subflow, Pause, Sleep, WaitFor; kill and resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.events import ExecutionStateChanged, State
from tests.unit.engine_helpers import FLOW, LOG, RETURN, SHELL, Flows, Harness, final, runs
from tests.waiting import CEILING, Gate, rendezvous


def test_parallel_runs_children_at_the_same_time(h: Harness, tmp_path: Path) -> None:
    meet = rendezvous(tmp_path / "met", 3)  # passed only by three steps running at once
    execution = h.run(f"""
        id: par
        namespace: t
        tasks:
          - id: both
            type: {FLOW}.Parallel
            tasks:
              - id: a
                type: {SHELL}
                commands: ['{meet}']
              - id: b
                type: {SHELL}
                commands: ['{meet}']
              - id: c
                type: {SHELL}
                commands: ['{meet}']
    """)
    assert execution.state.current is State.SUCCESS, "the three steps did not run at the same time"
    parent = runs(execution, "both")[0]["id"]
    assert {runs(execution, t)[0]["parentTaskRunId"] for t in "abc"} == {parent}


def test_parallel_concurrency_limit_serialises(h: Harness, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    h.run(f"""
        id: par1
        namespace: t
        tasks:
          - id: both
            type: {FLOW}.Parallel
            concurrent: 1
            tasks:
              - id: a
                type: {SHELL}
                commands: ["echo start >> {trace}; sleep 0.3; echo end >> {trace}"]
              - id: b
                type: {SHELL}
                commands: ["echo start >> {trace}; sleep 0.3; echo end >> {trace}"]
    """)
    assert trace.read_text().split() == ["start", "end", "start", "end"]  # never overlapping


def test_parallel_failure_fails_the_parent(h: Harness) -> None:
    execution = h.run(f"""
        id: parf
        namespace: t
        tasks:
          - id: both
            type: {FLOW}.Parallel
            tasks:
              - id: bad
                type: io.kestra.plugin.core.execution.Fail
              - id: good
                type: {LOG}
                message: ok
    """)
    assert execution.state.current is State.FAILED
    assert final(execution, "both") == "FAILED"


@pytest.mark.parametrize(("value", "branch"), [("yes", "then_task"), ("false", "else_task")])
def test_if_picks_a_branch(h: Harness, value: str, branch: str) -> None:
    execution = h.run(f"""
        id: iff
        namespace: t
        inputs:
          - id: go
            type: STRING
        tasks:
          - id: check
            type: {FLOW}.If
            condition: "{{{{ inputs.go }}}}"
            then:
              - id: then_task
                type: {LOG}
                message: then
            else:
              - id: else_task
                type: {LOG}
                message: else
    """, {"go": value})
    ran = {tr["taskId"] for tr in execution.to_json()["taskRunList"]}
    assert ran == {"check", branch}


@pytest.mark.parametrize(("value", "expected"), [("A", "case_a"), ("B", "case_b"), ("Z", "fallback")])
def test_switch_runs_the_matching_case_or_defaults(h: Harness, value: str, expected: str) -> None:
    execution = h.run(f"""
        id: sw
        namespace: t
        inputs:
          - id: v
            type: STRING
        tasks:
          - id: pick
            type: {FLOW}.Switch
            value: "{{{{ inputs.v }}}}"
            cases:
              A:
                - id: case_a
                  type: {LOG}
                  message: a
              B:
                - id: case_b
                  type: {LOG}
                  message: b
            defaults:
              - id: fallback
                type: {LOG}
                message: other
    """, {"v": value})
    ran = {tr["taskId"] for tr in execution.to_json()["taskRunList"]}
    assert ran == {"pick", expected}


def test_for_each_outputs_are_keyed_by_value(h: Harness) -> None:
    execution = h.run(f"""
        id: fe
        namespace: t
        tasks:
          - id: each
            type: {FLOW}.ForEach
            values: ["a", "b", "c"]
            tasks:
              - id: up
                type: {RETURN}
                format: "{{{{ taskrun.value | upper }}}}"
          - id: collect
            type: {RETURN}
            format: >-
              {{{{ outputs.up['a'].value }}}}{{{{ outputs.up['b'].value }}}}{{{{ outputs.up.c.value }}}}
    """)
    assert execution.state.current is State.SUCCESS
    assert [r["value"] for r in runs(execution, "up")] == ["a", "b", "c"]
    assert runs(execution, "collect")[0]["outputs"]["value"] == "ABC"


def test_for_each_concurrency_limit_zero_runs_all_at_once(h: Harness, tmp_path: Path) -> None:
    meet = rendezvous(tmp_path / "met", 4)  # passed only by four steps running at once
    execution = h.run(f"""
        id: fec
        namespace: t
        tasks:
          - id: each
            type: {FLOW}.ForEach
            values: '[1, 2, 3, 4]'
            concurrencyLimit: 0
            tasks:
              - id: nap
                type: {SHELL}
                commands: ['{meet}']
    """)
    assert execution.state.current is State.SUCCESS, "the four steps did not run at the same time"


def test_dag_follows_depends_on(h: Harness, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    execution = h.run(f"""
        id: dag
        namespace: t
        tasks:
          - id: graph
            type: {FLOW}.Dag
            tasks:
              - task:
                  id: last
                  type: {SHELL}
                  commands: ["echo last >> {trace}"]
                dependsOn: [left, right]
              - task:
                  id: left
                  type: {SHELL}
                  commands: ["sleep 0.2; echo left >> {trace}"]
                dependsOn: [first]
              - task:
                  id: right
                  type: {SHELL}
                  commands: ["echo right >> {trace}"]
                dependsOn: [first]
              - task:
                  id: first
                  type: {SHELL}
                  commands: ["echo first >> {trace}"]
    """)
    assert execution.state.current is State.SUCCESS
    order = trace.read_text().split()
    assert order[0] == "first" and order[-1] == "last" and set(order[1:3]) == {"left", "right"}


def test_allow_failure_task_makes_a_warning(h: Harness) -> None:
    execution = h.run(f"""
        id: allow
        namespace: t
        tasks:
          - id: tolerant
            type: {FLOW}.AllowFailure
            tasks:
              - id: bad
                type: io.kestra.plugin.core.execution.Fail
          - id: after
            type: {LOG}
            message: continues
    """)
    assert execution.state.current is State.WARNING
    assert final(execution, "tolerant") == "WARNING"
    assert final(execution, "after") == "SUCCESS"


def test_nested_errors_branch_runs_inside_a_flowable(h: Harness) -> None:
    execution = h.run(f"""
        id: nested_err
        namespace: t
        tasks:
          - id: group
            type: {FLOW}.Sequential
            tasks:
              - id: bad
                type: io.kestra.plugin.core.execution.Fail
            errors:
              - id: local_handler
                type: {LOG}
                message: handled locally
    """)
    assert execution.state.current is State.FAILED
    assert final(execution, "local_handler") == "SUCCESS"


def test_working_directory_shares_files_between_steps(h: Harness) -> None:
    execution = h.run(f"""
        id: wd
        namespace: t
        tasks:
          - id: shared
            type: {FLOW}.WorkingDirectory
            tasks:
              - id: write
                type: {SHELL}
                commands: ["echo hello > note.txt"]
              - id: read
                type: {SHELL}
                commands: ['echo "::{{\\"outputs\\":{{\\"note\\":\\"$(cat note.txt)\\"}}}}::"']
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    assert runs(execution, "read")[0]["outputs"]["note"] == "hello"


def test_subflow_passes_inputs_and_returns_outputs(tmp_path: Path) -> None:
    child = f"""
        id: child
        namespace: t.sub
        inputs:
          - id: x
            type: INT
        tasks:
          - id: double
            type: {RETURN}
            format: "{{{{ inputs.x * 2 }}}}"
        outputs:
          - id: result
            type: STRING
            value: "{{{{ outputs.double.value }}}}"
    """
    h = Harness(tmp_path, flows=Flows(child))
    execution = h.run(f"""
        id: parent
        namespace: t
        tasks:
          - id: call
            type: {FLOW}.Subflow
            namespace: t.sub
            flowId: child
            inputs:
              x: 21
          - id: use
            type: {RETURN}
            format: "{{{{ outputs.call.outputs.result }}}}"
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    assert runs(execution, "use")[0]["outputs"]["value"] == "42"
    child_runs = {e.execution_id for e in h.events.events
                  if isinstance(e, ExecutionStateChanged) and e.flow == "t.sub.child"}
    assert child_runs == {runs(execution, "call")[0]["outputs"]["executionId"]}


def test_failed_subflow_fails_the_parent_task(tmp_path: Path) -> None:
    child = """
        id: broken
        namespace: t
        tasks:
          - id: bad
            type: io.kestra.plugin.core.execution.Fail
    """
    h = Harness(tmp_path, flows=Flows(child))
    execution = h.run(f"""
        id: parent2
        namespace: t
        tasks:
          - id: call
            type: {FLOW}.Subflow
            namespace: t
            flowId: broken
    """)
    assert execution.state.current is State.FAILED


def test_pause_with_duration_resumes_by_itself(h: Harness) -> None:
    execution = h.run(f"""
        id: pz
        namespace: t
        tasks:
          - id: wait
            type: {FLOW}.Pause
            pauseDuration: PT0.2S
          - id: after
            type: {LOG}
            message: resumed
    """)
    assert execution.state.current is State.SUCCESS
    assert "PAUSED" in h.states("wait")
    flow_states = [e.state for e in h.events.events if isinstance(e, ExecutionStateChanged)]
    assert flow_states == [State.RUNNING, State.PAUSED, State.RUNNING, State.SUCCESS]


def _run_in_thread(h: Harness, text: str) -> tuple[threading.Thread, list[object]]:
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(h.run(text)))
    thread.start()
    return thread, box


def _wait_for(predicate: object, timeout: float = CEILING) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_manual_pause_waits_for_resume_with_inputs(h: Harness) -> None:
    thread, box = _run_in_thread(h, f"""
        id: approve
        namespace: t
        tasks:
          - id: gate
            type: {FLOW}.Pause
            onResume:
              - id: approved
                type: BOOLEAN
          - id: after
            type: {RETURN}
            format: "approved={{{{ outputs.gate.onResume.approved }}}}"
    """)
    _wait_for(lambda: "PAUSED" in h.states("gate"))
    execution_id = h.engine.active()[0]
    with pytest.raises(UsageError):
        h.engine.resume(execution_id, {"approved": "maybe"})
    assert h.engine.resume(execution_id, {"approved": "true"})
    thread.join(CEILING)
    execution = box[0]
    assert execution.state.current is State.SUCCESS  # type: ignore[attr-defined]
    assert runs(execution, "after")[0]["outputs"]["value"] == "approved=true"  # type: ignore[arg-type]


def test_kill_stops_a_running_step_and_ends_killed(h: Harness) -> None:
    thread, box = _run_in_thread(h, f"""
        id: killme
        namespace: t
        tasks:
          - id: long
            type: {SHELL}
            commands: ["sleep 600"]
          - id: never
            type: {LOG}
            message: no
    """)
    _wait_for(lambda: "RUNNING" in h.states("long"))
    assert h.engine.kill(h.engine.active()[0])
    thread.join(CEILING)
    assert not thread.is_alive(), "the kill did not stop the 600 s step"
    execution = box[0]
    assert execution.state.current is State.KILLED  # type: ignore[attr-defined]
    assert not runs(execution, "never")  # type: ignore[arg-type]


def test_wait_for_loops_until_the_condition_holds(h: Harness) -> None:
    execution = h.run(f"""
        id: wf
        namespace: t
        tasks:
          - id: loop
            type: {FLOW}.WaitFor
            condition: "{{{{ outputs.count.value == '3' }}}}"
            checkFrequency:
              interval: PT0.01S
            tasks:
              - id: count
                type: {RETURN}
                format: "{{{{ outputs.loop.iterationCount }}}}"
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    assert len(runs(execution, "count")) == 3
    assert runs(execution, "loop")[0]["outputs"]["iterationCount"] == 3


def test_flow_concurrency_fail_behaviour(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    gate = Gate(tmp_path / "gate")  # the first run holds until the second has been refused
    text = f"""
        id: single
        namespace: t
        concurrency:
          limit: 1
          behavior: FAIL
        tasks:
          - id: hold
            type: {SHELL}
            commands: ['{gate.hold}']
    """
    thread, box = _run_in_thread(h, text)
    _wait_for(lambda: "RUNNING" in h.states("hold"))
    second = h.run(text)
    gate.open()
    thread.join(CEILING)
    assert second.state.current is State.FAILED
    assert box[0].state.current is State.SUCCESS  # type: ignore[attr-defined]


def test_plugin_defaults_fill_and_force_properties(h: Harness) -> None:
    execution = h.run(f"""
        id: pd
        namespace: t
        pluginDefaults:
          - type: io.kestra.plugin.core.debug
            values:
              format: "from defaults"
          - type: {LOG}
            forced: true
            values:
              message: forced message
        tasks:
          - id: a
            type: {RETURN}
          - id: b
            type: {RETURN}
            format: own value
          - id: c
            type: {LOG}
            message: task message
    """)
    assert runs(execution, "a")[0]["outputs"]["value"] == "from defaults"
    assert runs(execution, "b")[0]["outputs"]["value"] == "own value"
    assert h.logs("c") == ["forced message"]


def test_plugin_defaults_can_supply_required_properties(h: Harness) -> None:
    execution = h.run(f"""
        id: pd_required
        namespace: t
        pluginDefaults:
          - type: io.kestra.plugin.core.log
            values:
              message: "from defaults for {{{{ task.id }}}}"
        tasks:
          - id: quiet
            type: {LOG}
    """)
    assert execution.state.current is State.SUCCESS
    assert h.logs("quiet") == ["from defaults for quiet"]


def test_local_files_and_working_directory_output_files(h: Harness) -> None:
    execution = h.run(f"""
        id: files
        namespace: t
        tasks:
          - id: shared
            type: {FLOW}.WorkingDirectory
            inputFiles:
              seed.txt: "seed from {{{{ flow.id }}}}"
            outputFiles: ["*.out"]
            tasks:
              - id: local
                type: io.kestra.plugin.core.storage.LocalFiles
                inputs:
                  data.csv: "a,b\\n1,2"
                outputs: ["*.csv"]
              - id: use
                type: {SHELL}
                commands: ["cat seed.txt data.csv > all.out"]
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    kept = runs(execution, "local")[0]["outputs"]["uris"]
    assert Path(kept["data.csv"]).read_text() == "a,b\n1,2"
    combined = runs(execution, "shared")[0]["outputs"]["outputFiles"]["all.out"]
    assert Path(combined).read_text() == "seed from filesa,b\n1,2"


def test_after_execution_sees_the_final_state_and_cannot_change_it(h: Harness) -> None:
    execution = h.run(f"""
        id: after
        namespace: t
        tasks:
          - id: bad
            type: io.kestra.plugin.core.execution.Fail
        afterExecution:
          - id: report
            type: {LOG}
            message: "ended {{{{ execution.state }}}}"
          - id: also_fails
            type: io.kestra.plugin.core.execution.Fail
    """)
    assert execution.state.current is State.FAILED
    assert h.logs("report") == ["ended FAILED"]
    assert final(execution, "also_fails") == "FAILED"


@pytest.mark.parametrize("kind", ["Parallel", "Dag", "ForEach"])
def test_every_flowable_runs_its_errors_and_finally(h: Harness, kind: str) -> None:
    child = "type: io.kestra.plugin.core.execution.Fail"
    body = {
        "Parallel": f"tasks:\n              - id: bad\n                {child}",
        "Dag": f"tasks:\n              - task:\n                  id: bad\n                  {child}",
        "ForEach": f"values: [x]\n            tasks:\n              - id: bad\n                {child}",
    }[kind]
    execution = h.run(f"""
        id: handlers
        namespace: t
        tasks:
          - id: group
            type: {FLOW}.{kind}
            {body}
            errors:
              - id: on_error
                type: {LOG}
                message: handled
            finally:
              - id: always
                type: {LOG}
                message: cleaned
    """)
    assert execution.state.current is State.FAILED
    assert final(execution, "on_error") == "SUCCESS"
    assert final(execution, "always") == "SUCCESS"
