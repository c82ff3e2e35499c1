"""Engine semantics: states, outputs, retries, timeouts, errors/finally, runIf, inputs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.events import ExecutionStateChanged, State
from tests.unit.engine_helpers import FAIL, LOG, RETURN, SHELL, Harness, final, runs
from tests.waiting import CEILING


def test_outputs_flow_between_tasks_and_into_flow_outputs(h: Harness) -> None:
    execution = h.run(f"""
        id: outs
        namespace: t
        inputs:
          - id: who
            type: STRING
            defaults: world
        tasks:
          - id: a
            type: {RETURN}
            format: "hello {{{{ inputs.who }}}}"
          - id: b
            type: {SHELL}
            commands:
              - 'echo "::{{\\"outputs\\":{{\\"n\\":41}}}}::"'
          - id: c
            type: {RETURN}
            format: "{{{{ outputs.a.value }}}} {{{{ outputs.b.n + 1 }}}}"
        outputs:
          - id: greeting
            type: STRING
            value: "{{{{ outputs.c.value }}}}"
    """, {"who": "Ada"})
    assert execution.state.current is State.SUCCESS
    assert execution.outputs == {"greeting": "hello Ada 42"}
    assert runs(execution, "b")[0]["outputs"]["exitCode"] == 0


def test_execution_states_follow_kestra_order(h: Harness) -> None:
    h.run(f"""
        id: s
        namespace: t
        tasks:
          - id: a
            type: {LOG}
            message: hi
    """)
    flow_states = [e.state for e in h.events.events if isinstance(e, ExecutionStateChanged)]
    assert flow_states == [State.RUNNING, State.SUCCESS]
    assert h.states("a") == ["CREATED", "RUNNING", "SUCCESS"]


def test_failure_stops_the_sequence_runs_errors_then_finally(h: Harness) -> None:
    execution = h.run(f"""
        id: f
        namespace: t
        tasks:
          - id: ok
            type: {LOG}
            message: first
          - id: boom
            type: {FAIL}
            errorMessage: "it broke at {{{{ task.id }}}}"
          - id: never
            type: {LOG}
            message: never
        errors:
          - id: on_error
            type: {LOG}
            message: "handling failure"
        finally:
          - id: cleanup
            type: {LOG}
            message: "cleaning up"
    """)
    assert execution.state.current is State.FAILED
    assert [tr["taskId"] for tr in execution.to_json()["taskRunList"]] == \
        ["ok", "boom", "on_error", "cleanup"]
    assert "it broke at boom" in h.logs("boom")
    assert final(execution, "cleanup") == "SUCCESS"


def test_allow_failure_turns_failed_into_warning_and_continues(h: Harness) -> None:
    execution = h.run(f"""
        id: af
        namespace: t
        tasks:
          - id: flaky
            type: {SHELL}
            allowFailure: true
            commands: ["exit 1"]
          - id: next
            type: {LOG}
            message: still here
    """)
    assert execution.state.current is State.WARNING
    assert final(execution, "flaky") == "WARNING"
    assert final(execution, "next") == "SUCCESS"


@pytest.mark.parametrize(("value", "skipped"), [
    ("false", True), ("0", True), ("-0", True), ("", True), ("FALSE", True),
    ("true", False), ("no", False), ("1", False), ("anything", False),
])
def test_run_if_is_false_only_for_kestra_falsy_values(h: Harness, value: str, skipped: bool) -> None:
    execution = h.run(f"""
        id: ri
        namespace: t
        inputs:
          - id: v
            type: STRING
            required: false
        tasks:
          - id: maybe
            type: {LOG}
            runIf: "{{{{ inputs.v }}}}"
            message: ran
    """, {"v": value})
    assert final(execution, "maybe") == ("SKIPPED" if skipped else "SUCCESS")
    assert execution.state.current is State.SUCCESS


def test_disabled_task_leaves_no_task_run(h: Harness) -> None:
    execution = h.run(f"""
        id: d
        namespace: t
        tasks:
          - id: off
            type: {LOG}
            disabled: true
            message: x
          - id: on
            type: {LOG}
            message: y
    """)
    assert [tr["taskId"] for tr in execution.to_json()["taskRunList"]] == ["on"]


def test_retry_constant_counts_attempts_and_succeeds(h: Harness, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    execution = h.run(f"""
        id: r
        namespace: t
        tasks:
          - id: flaky
            type: {SHELL}
            retry:
              type: constant
              interval: PT0.05S
              maxAttempts: 5
            commands:
              - 'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}'
              - 'test $n -ge 3'
    """)
    assert execution.state.current is State.SUCCESS
    run = runs(execution, "flaky")[0]
    assert [a["state"]["current"] for a in run["attempts"]] == ["FAILED", "FAILED", "SUCCESS"]
    assert "RETRYING" in h.states("flaky")


def test_retry_gives_up_after_max_attempts(h: Harness) -> None:
    execution = h.run(f"""
        id: r2
        namespace: t
        tasks:
          - id: always
            type: {FAIL}
            retry:
              type: exponential
              interval: PT0.01S
              maxInterval: PT0.05S
              maxAttempts: 3
    """)
    assert execution.state.current is State.FAILED
    assert len(runs(execution, "always")[0]["attempts"]) == 3


def test_timeout_kills_the_attempt(h: Harness) -> None:
    started = time.monotonic()
    execution = h.run(f"""
        id: to
        namespace: t
        tasks:
          - id: slow
            type: {SHELL}
            timeout: PT0.5S
            commands: ["sleep 600"]
    """)
    assert time.monotonic() - started < CEILING  # cut off at its timeout, not the step's 600 s
    assert execution.state.current is State.FAILED
    assert any("timed out" in line for line in h.logs("slow"))


def test_timeout_on_a_flowable_stops_its_children(h: Harness) -> None:
    started = time.monotonic()
    execution = h.run("""
        id: tof
        namespace: t
        tasks:
          - id: group
            type: io.kestra.plugin.core.flow.Sequential
            timeout: PT0.3S
            tasks:
              - id: nap
                type: io.kestra.plugin.core.flow.Sleep
                duration: PT600S
              - id: after
                type: io.kestra.plugin.core.log.Log
                message: never
    """)
    assert time.monotonic() - started < CEILING  # cut off at its timeout, not the 600 s sleep
    assert execution.state.current is State.FAILED
    assert final(execution, "nap") == "KILLED"
    assert not runs(execution, "after")


def test_inputs_are_typed_and_validated(h: Harness) -> None:
    text = f"""
        id: typed
        namespace: t
        inputs:
          - id: n
            type: INT
          - id: ok
            type: BOOLEAN
            defaults: false
          - id: color
            type: SELECT
            values: [red, green]
            defaults: red
        tasks:
          - id: show
            type: {RETURN}
            format: "{{{{ inputs.n * 2 }}}} {{{{ inputs.ok }}}} {{{{ inputs.color }}}}"
    """
    execution = h.run(text, {"n": "21", "ok": "true"})
    assert runs(execution, "show")[0]["outputs"]["value"] == "42 true red"
    with pytest.raises(UsageError, match=r"'abc' is not an integer|invalid literal"):
        h.run(text, {"n": "abc"})
    with pytest.raises(UsageError, match="not one of red, green"):
        h.run(text, {"n": "1", "color": "blue"})
    with pytest.raises(UsageError, match="missing required input 'n'"):
        h.run(text, {})
    with pytest.raises(UsageError, match="unknown input"):
        h.run(text, {"n": "1", "nope": "x"})


def test_exit_ends_the_execution_with_its_state(h: Harness) -> None:
    execution = h.run("""
        id: ex
        namespace: t
        tasks:
          - id: stop
            type: io.kestra.plugin.core.execution.Exit
            state: WARNING
          - id: never
            type: io.kestra.plugin.core.log.Log
            message: no
    """)
    assert execution.state.current is State.WARNING
    assert not runs(execution, "never")


def test_labels_task_updates_execution_labels(h: Harness) -> None:
    execution = h.run("""
        id: lb
        namespace: t
        labels:
          team: a
        tasks:
          - id: set
            type: io.kestra.plugin.core.execution.Labels
            labels:
              stage: "{{ flow.id }}"
          - id: read
            type: io.kestra.plugin.core.debug.Return
            format: "{{ labels.stage }}/{{ labels.team }}"
    """)
    assert execution.labels == {"team": "a", "stage": "lb"}
    assert runs(execution, "read")[0]["outputs"]["value"] == "lb/a"


def test_kv_set_get_delete_round_trip(h: Harness) -> None:
    execution = h.run("""
        id: kv
        namespace: t.kv
        tasks:
          - id: put
            type: io.kestra.plugin.core.kv.Set
            key: answer
            value: "42"
            kvType: NUMBER
          - id: get
            type: io.kestra.plugin.core.kv.Get
            key: answer
          - id: del
            type: io.kestra.plugin.core.kv.Delete
            key: answer
          - id: again
            type: io.kestra.plugin.core.kv.Get
            key: answer
    """)
    assert runs(execution, "get")[0]["outputs"]["value"] == 42
    assert runs(execution, "del")[0]["outputs"]["deleted"] is True
    assert runs(execution, "again")[0]["outputs"]["value"] is None


def test_expression_error_fails_the_task_with_a_clear_message(h: Harness) -> None:
    execution = h.run(f"""
        id: ee
        namespace: t
        tasks:
          - id: bad
            type: {LOG}
            message: "{{{{ fromJson('{{broken') }}}}"
    """)
    assert execution.state.current is State.FAILED
    assert any("cannot render" in line for line in h.logs("bad"))


def test_secret_input_is_masked_in_logs(h: Harness) -> None:
    h.run(f"""
        id: sec
        namespace: t
        inputs:
          - id: token
            type: SECRET
        tasks:
          - id: leak
            type: {SHELL}
            commands: ['echo "token is {{{{ inputs.token }}}}"']
    """, {"token": "s3cr3t-value"})
    logs = h.logs("leak")
    assert "token is ******" in logs
    assert not any("s3cr3t-value" in line for line in logs)


def test_secret_function_reads_kestra_env_and_is_masked(tmp_path: Path) -> None:
    import base64

    encoded = base64.b64encode(b"hunter2-token").decode()
    h = Harness(tmp_path, environ={"SECRET_API_TOKEN": encoded})
    execution = h.run(f"""
        id: sf
        namespace: t
        tasks:
          - id: use
            type: {SHELL}
            commands: ['echo "calling with {{{{ secret(''API_TOKEN'') }}}}"']
          - id: missing
            type: {LOG}
            message: "{{{{ secret('NOPE') }}}}"
    """)
    assert "calling with ******" in h.logs("use")
    assert not any("hunter2-token" in line for line in h.logs())
    assert execution.state.current is State.FAILED
    assert any("secret 'NOPE' is not set" in line for line in h.logs("missing"))


def test_untrusted_runs_get_no_secrets(tmp_path: Path) -> None:
    import base64

    from runner.engine.engine import Engine
    from runner.events import Collect
    from runner.executors import Executors, LocalExecutor
    from tests.unit.engine_helpers import flow_of

    events = Collect()
    engine = Engine(Executors(LocalExecutor(), untrusted=True), events,
                    environ={"SECRET_X": base64.b64encode(b"value").decode()},
                    data_dir=tmp_path)
    execution = engine.run(flow_of(f"""
        id: fork
        namespace: t
        tasks:
          - id: try
            type: {LOG}
            message: "{{{{ secret('X') }}}}"
    """))
    assert execution.state.current is State.FAILED


def test_kv_and_read_functions(tmp_path: Path) -> None:
    from runner.git.files import CheckoutFiles

    repo = tmp_path / "repo"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf" / "greeting.txt").write_text("hi from the repo")
    h = Harness(tmp_path)
    h.engine.namespace_files = CheckoutFiles(repo)
    h.engine.kv.set("t.fn", "color", "blue")
    execution = h.run(f"""
        id: fn
        namespace: t.fn
        tasks:
          - id: show
            type: {RETURN}
            format: >-
              {{{{ kv('color') }}}} / {{{{ read('conf/greeting.txt') }}}} /
              {{{{ kv('nope', errorOnMissing=false) ?? 'none' }}}}
          - id: escape
            type: {RETURN}
            format: "{{{{ read('../../etc/passwd') }}}}"
    """)
    assert runs(execution, "show")[0]["outputs"]["value"] == "blue / hi from the repo / none"
    assert final(execution, "escape") == "FAILED"
