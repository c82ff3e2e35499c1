"""Runtime semantics as Kestra's documentation states them, with its examples as written."""

from __future__ import annotations

import pytest

from runner.errors import UsageError
from runner.events import State
from tests.unit.engine_helpers import Harness, final, runs


def test_retry_doc_example_attempts_count_and_warning_on_retry(h: Harness) -> None:
    # https://kestra.io/docs/workflow-components/retries ("succeeds on the 5th attempt, using
    # {{ taskrun.attemptsCount }} to track retries"; warningOnRetry makes it a WARNING)
    execution = h.run("""
        id: retry
        namespace: company.team
        description: This flow retries 4 times and succeeds on the 5th attempt
        tasks:
          - id: failed
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            commands:
              - 'if [ "{{taskrun.attemptsCount}}" -eq 4 ]; then exit 0; else exit 1; fi'
            retry:
              type: constant
              interval: PT0.25S
              maxAttempts: 5
              maxDuration: PT1M
              warningOnRetry: true
        errors:
          - id: never_happen
            type: io.kestra.plugin.core.debug.Return
            format: Never happened {{task.id}}
    """)
    failed = runs(execution, "failed")[0]
    assert len(failed["attempts"]) == 5
    assert [a["state"]["current"] for a in failed["attempts"]][:4] == ["FAILED"] * 4
    assert failed["state"]["current"] == "WARNING"
    assert execution.state.current is State.WARNING
    assert runs(execution, "never_happen") == []


def test_attempts_count_is_zero_on_the_first_attempt(h: Harness) -> None:
    execution = h.run("""
        id: first
        namespace: t
        tasks:
          - id: r
            type: io.kestra.plugin.core.debug.Return
            format: "{{ taskrun.attemptsCount }}"
    """)
    assert execution.task_outputs["r"] == {"value": "0"}


def test_script_outputs_read_as_vars(h: Harness) -> None:
    # https://kestra.io/docs/workflow-components/outputs ("outputs.<taskId>.vars.<name>" for
    # the values a script sends with ::{"outputs":{…}}::)
    execution = h.run("""
        id: python_outputs
        namespace: company.team
        tasks:
          - id: script
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            commands:
              - echo '::{"outputs":{"test":"value","int":2,"bool":true,"float":3.65}}::'
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: >-
              {{ outputs.script.vars.test }} {{ outputs.script.vars.int + 1 }}
              {{ outputs.script.test }}
    """)
    assert execution.state.current is State.SUCCESS
    assert h.logs("log") == ["value 3 value"]
    assert execution.task_outputs["script"]["vars"] == {"test": "value", "int": 2, "bool": True,
                                                         "float": 3.65}


def test_flow_outputs_are_typed_by_their_type(h: Harness) -> None:
    # https://kestra.io/docs/workflow-components/outputs#flow-outputs (an output has a type)
    execution = h.run("""
        id: typed
        namespace: t
        tasks:
          - id: n
            type: io.kestra.plugin.core.debug.Return
            format: "42"
        outputs:
          - id: count
            type: INT
            value: "{{ outputs.n.value }}"
          - id: ok
            type: BOOLEAN
            value: "{{ outputs.n.value == '42' }}"
          - id: ratio
            type: FLOAT
            value: "0.5"
          - id: doc
            type: JSON
            value: '{"a": [1, 2]}'
          - id: text
            type: STRING
            value: "{{ outputs.n.value }}"
    """)
    assert execution.outputs == {"count": 42, "ok": True, "ratio": 0.5, "doc": {"a": [1, 2]},
                                 "text": "42"}
    assert execution.to_json()["outputs"]["count"] == 42


def test_a_flow_output_that_does_not_fit_its_type_fails_the_run(h: Harness) -> None:
    execution = h.run("""
        id: typed
        namespace: t
        tasks:
          - id: n
            type: io.kestra.plugin.core.debug.Return
            format: forty-two
        outputs:
          - id: count
            type: INT
            value: "{{ outputs.n.value }}"
    """)
    assert execution.state.current is State.FAILED
    assert "flow outputs: output 'count' (INT): 'forty-two' is not an integer" in h.logs()


def test_tasks_state_after_a_run_if_skipped_task(h: Harness) -> None:
    # https://kestra.io/docs/expressions ("tasks.<taskId>.state": a task's current state)
    execution = h.run("""
        id: states
        namespace: t
        tasks:
          - id: maybe
            type: io.kestra.plugin.core.log.Log
            runIf: "{{ false }}"
            message: never
          - id: done
            type: io.kestra.plugin.core.log.Log
            message: hello
          - id: report
            type: io.kestra.plugin.core.log.Log
            message: "{{ tasks.maybe.state }} {{ tasks.done.state }}"
    """)
    assert final(execution, "maybe") == "SKIPPED"
    assert h.logs("report") == ["SKIPPED SUCCESS"]


def test_tasks_state_per_loop_value(h: Harness) -> None:
    h.run("""
        id: loop_states
        namespace: t
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a", "b"]
            tasks:
              - id: inner
                type: io.kestra.plugin.core.log.Log
                message: "{{ taskrun.value }}"
          - id: report
            type: io.kestra.plugin.core.log.Log
            message: "{{ tasks.inner['a'].state }} {{ tasks.inner['b'].state }}"
    """)
    assert h.logs("report") == ["SUCCESS SUCCESS"]


_ENUM = """
    id: legacy_enum
    namespace: t
    inputs:
      - id: env
        type: ENUM
        values: [dev, prod]
        defaults: dev
    tasks:
      - id: log
        type: io.kestra.plugin.core.log.Log
        message: "{{ inputs.env }}"
"""


def test_legacy_enum_input_runs_as_select(h: Harness) -> None:
    h.run(_ENUM, {"env": "prod"})
    assert h.logs("log") == ["prod"]
    with pytest.raises(UsageError, match="'staging' is not one of dev, prod"):
        h.run(_ENUM, {"env": "staging"})


def test_pause_duration_given_as_an_expression(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/flow/io.kestra.plugin.core.flow.pause (pauseDuration
    # is a dynamic property)
    execution = h.run("""
        id: pause
        namespace: t
        inputs:
          - id: wait
            type: DURATION
            defaults: PT0.1S
        tasks:
          - id: pause
            type: io.kestra.plugin.core.flow.Pause
            pauseDuration: "{{ inputs.wait }}"
          - id: after
            type: io.kestra.plugin.core.log.Log
            message: resumed
    """)
    assert execution.state.current is State.SUCCESS
    assert h.logs("after") == ["resumed"]
