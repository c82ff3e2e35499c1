"""execution.SetVariables / UnsetVariables / Kill, the deprecated state.* tasks and
kv.PurgeKV, as Kestra's documentation writes them."""

from __future__ import annotations

import datetime as dt

from runner.events import State
from tests.unit.engine_helpers import Harness, runs


def test_set_variables_doc_example(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/execution/io.kestra.plugin.core.execution.setvariables
    execution = h.run("""
        id: set_variables
        namespace: company.team
        variables:
          name: World
        tasks:
          - id: before
            type: io.kestra.plugin.core.log.Log
            message: "Hello {{ vars.name }}"
          - id: set_variables
            type: io.kestra.plugin.core.execution.SetVariables
            variables:
              name: Tester
          - id: after
            type: io.kestra.plugin.core.log.Log
            message: "Hello {{ vars.name }}"
    """)
    assert execution.state.current is State.SUCCESS
    assert h.logs("before") + h.logs("after") == ["Hello World", "Hello Tester"]


def test_set_variables_without_overwrite_and_unset(h: Harness) -> None:
    execution = h.run("""
        id: unset
        namespace: t
        variables:
          name: World
          other: x
        tasks:
          - id: unset
            type: io.kestra.plugin.core.execution.UnsetVariables
            variables: [other]
          - id: show
            type: io.kestra.plugin.core.log.Log
            message: "{{ vars.other ?? 'gone' }}"
          - id: keep
            type: io.kestra.plugin.core.execution.SetVariables
            overwrite: false
            variables:
              name: Tester
    """)
    assert h.logs("show") == ["gone"]
    assert execution.state.current is State.FAILED
    assert any("name already set and overwrite is false" in x for x in h.logs("keep"))


def test_kill_ends_the_execution_killed(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/execution/io.kestra.plugin.core.execution.kill
    execution = h.run("""
        id: kill
        namespace: company.team
        tasks:
          - id: kill
            type: io.kestra.plugin.core.execution.Kill
          - id: never
            type: io.kestra.plugin.core.log.Log
            message: not reached
    """)
    assert execution.state.current is State.KILLED
    assert runs(execution, "never") == []


def test_deprecated_state_tasks_keep_a_named_state(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/states/io.kestra.plugin.core.state.set (deprecated in
    # favour of the KV store, still valid)
    flow = """
        id: states
        namespace: company.team
        tasks:
          - id: get
            type: io.kestra.core.tasks.states.Get
            name: counter
          - id: set
            type: io.kestra.plugin.core.state.Set
            name: counter
            data:
              runs: "{{ (outputs.get.data.runs ?? 0) + 1 }}"
    """
    h.run(flow)
    second = h.run(flow)
    assert second.task_outputs["get"] == {"data": {"runs": "1"}, "count": 1}
    assert second.task_outputs["set"]["count"] == 1
    deleted = h.run("""
        id: states
        namespace: company.team
        tasks:
          - id: delete
            type: io.kestra.plugin.core.state.Delete
            name: counter
    """)
    assert deleted.task_outputs["delete"] == {"deleted": True}


def test_purge_kv_deletes_expired_keys_only_by_default(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/kv/io.kestra.plugin.core.kv.purgekv
    h.engine.kv.set("company.team", "old", 1, ttl=dt.timedelta(seconds=-1))  # already expired
    h.engine.kv.set("company.team", "fresh", 2)
    execution = h.run("""
        id: purge_kv
        namespace: company.team
        tasks:
          - id: purge_kv
            type: io.kestra.plugin.core.kv.PurgeKV
            expiredOnly: true
            namespaces:
              - company.team
    """)
    assert execution.task_outputs["purge_kv"] == {"size": 1}
    assert h.engine.kv.keys("company.team") == ["fresh"]
