"""Kestra's Flow trigger: which finished executions start which flows."""

from __future__ import annotations

import pytest

from runner.events import State
from runner.triggers.flow import Finished, decide, triggered
from tests.unit.engine_helpers import flow_of


def listener(trigger_yaml: str, flow_id: str = "after") -> object:
    return flow_of(f"""
        id: {flow_id}
        namespace: demo.ops
        tasks:
          - id: a
            type: io.kestra.plugin.core.log.Log
            message: hi
        triggers:
          - id: t
            type: io.kestra.plugin.core.trigger.Flow
{trigger_yaml}
    """)


BUILD_OK = Finished("E1", "demo", "build", State.SUCCESS)
BUILD_FAILED = Finished("E2", "demo", "build", State.FAILED)
OTHER_OK = Finished("E3", "other", "thing", State.SUCCESS)


@pytest.mark.parametrize(("trigger", "done", "fires"), [
    ("", BUILD_OK, True),  # no filter: any other flow's end
    ("            states: [FAILED]\n", BUILD_OK, False),
    ("            states: [FAILED]\n", BUILD_FAILED, True),
    ("            conditions:\n              - type: io.kestra.plugin.core.condition.ExecutionFlow\n"
     "                namespace: demo\n                flowId: build\n", OTHER_OK, False),
    ("            conditions:\n              - type: io.kestra.plugin.core.condition.ExecutionFlow\n"
     "                namespace: demo\n                flowId: build\n", BUILD_OK, True),
    ("            conditions:\n              - type: io.kestra.plugin.core.condition.ExecutionStatus\n"
     "                in: [SUCCESS, WARNING]\n", BUILD_FAILED, False),
    ("            conditions:\n              - type: io.kestra.plugin.core.condition.ExecutionStatus\n"
     "                notIn: [SUCCESS]\n", BUILD_FAILED, True),
    ("            conditions:\n"
     "              - type: io.kestra.plugin.core.condition.ExecutionNamespace\n"
     "                namespace: dem\n                comparison: PREFIX\n", BUILD_OK, True),
    ("            conditions:\n"
     "              - type: io.kestra.plugin.core.condition.ExecutionNamespace\n"
     "                namespace: dem\n", BUILD_OK, False),
    ("            preconditions:\n              flows:\n"
     "                - {namespace: demo, flowId: build, states: [SUCCESS]}\n", BUILD_OK, True),
    ("            preconditions:\n              flows:\n"
     "                - {namespace: demo, flowId: build, states: [SUCCESS]}\n", BUILD_FAILED, False),
])
def test_conditions(trigger: str, done: Finished, fires: bool) -> None:
    flow = listener(trigger)
    assert decide(flow, flow.triggers[0], done)[0] is fires  # type: ignore[attr-defined]


def test_a_flow_never_triggers_itself_and_running_states_never_fire() -> None:
    flow = listener("")
    own_end = Finished("E9", "demo.ops", "after", State.SUCCESS)
    assert triggered([flow], own_end) == []  # type: ignore[list-item]
    assert triggered([flow], Finished("E8", "demo", "build", State.RUNNING)) == []  # type: ignore[list-item]


def test_unsupported_conditions_do_not_fire_and_say_why() -> None:
    flow = listener("            conditions:\n"
                    "              - type: io.kestra.plugin.core.condition.PublicHoliday\n"
                    "                country: FR\n")
    fires, notes = decide(flow, flow.triggers[0], BUILD_OK)  # type: ignore[attr-defined]
    assert not fires and "not supported" in notes[0]
