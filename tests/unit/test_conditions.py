"""Flow-trigger conditions judged as Kestra's condition pages describe them."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.events import State
from runner.triggers.conditions import DAYS, judge
from runner.triggers.flow import Finished, decide
from tests.unit.engine_helpers import flow_of

UPSTREAM = Finished("E1", "company.team", "extract", State.SUCCESS,
                    outputs={"some_output": "some_value", "rows": 12})
MONDAY_NOON = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)  # the first Monday of January


def test_execution_outputs_doc_example_fires_the_trigger() -> None:
    # https://kestra.io/plugins/core/conditions/io.kestra.plugin.core.condition.executionoutputs
    flow = flow_of("""
        id: downstream
        namespace: company.team
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: hi
        triggers:
          - id: flow_trigger
            type: io.kestra.plugin.core.trigger.Flow
            conditions:
              - type: io.kestra.plugin.core.condition.ExecutionOutputs
                expression: "{{ trigger.outputs.some_output == 'some_value' }}"
    """)
    fires, notes = decide(flow, flow.triggers[0], UPSTREAM)
    assert (fires, notes) == (True, [])
    other = Finished("E2", "company.team", "extract", State.SUCCESS, outputs={"some_output": "x"})
    assert decide(flow, flow.triggers[0], other)[0] is False


@pytest.mark.parametrize(("condition", "holds"), [
    ({"type": "io.kestra.plugin.core.condition.Expression",
      "expression": "{{ flow.id == 'extract' and execution.state.current == 'SUCCESS' }}"}, True),
    ({"type": "io.kestra.plugin.core.condition.Expression",
      "expression": "{{ outputs.rows > 100 }}"}, False),
    ({"type": "io.kestra.plugin.core.condition.DayWeek", "dayOfWeek": "MONDAY"}, True),
    ({"type": "io.kestra.core.models.conditions.types.WeekendCondition"}, False),
    ({"type": "io.kestra.plugin.core.condition.DayWeekInMonth", "dayOfWeek": "MONDAY",
      "dayInMonth": "FIRST"}, True),
    ({"type": "io.kestra.plugin.core.condition.DayWeekInMonth", "dayOfWeek": "MONDAY",
      "dayInMonth": "LAST"}, False),
    ({"type": "io.kestra.plugin.core.condition.TimeBetween", "after": "09:00:00Z",
      "before": "18:00:00Z"}, True),
    ({"type": "io.kestra.plugin.core.condition.TimeBetween", "after": "14:00:00+01:00"}, False),
    ({"type": "io.kestra.plugin.core.condition.DateTimeBetween",
      "after": "2023-12-31T00:00:00Z", "before": "2024-01-02T00:00:00Z"}, True),
    ({"type": "io.kestra.plugin.core.condition.Not", "conditions": [
        {"type": "io.kestra.plugin.core.condition.Weekend"}]}, True),
    ({"type": "io.kestra.plugin.core.condition.Or", "conditions": [
        {"type": "io.kestra.plugin.core.condition.Weekend"},
        {"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["FAILED"]}]}, False),
    ({"type": "io.kestra.plugin.core.condition.FlowCondition", "namespace": "company.team",
      "flowId": "extract"}, True),
])
def test_conditions_judged_at_a_known_moment(condition: dict[str, object], holds: bool) -> None:
    assert judge(condition, UPSTREAM.variables(), MONDAY_NOON) == (holds, None)


@pytest.mark.parametrize("kind", ["HasRetryAttempt", "MultipleCondition", "PublicHoliday"])
def test_conditions_not_judged_never_hold_and_say_why(kind: str) -> None:
    holds, why = judge({"type": f"io.kestra.plugin.core.condition.{kind}"}, UPSTREAM.variables(),
                       MONDAY_NOON)
    assert holds is False and why and "not supported" in why


def test_a_broken_expression_does_not_fire_and_says_why() -> None:
    holds, why = judge({"type": "io.kestra.plugin.core.condition.Expression",
                        "expression": "{{ 1 + }}"}, UPSTREAM.variables(), MONDAY_NOON)
    assert holds is False and why and why.startswith("condition Expression:")


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_each_day_is_one_week_day_and_weekend_agrees(day: dt.date) -> None:
    now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    matching = [d for d in DAYS if judge({"type": "DayWeek", "dayOfWeek": d}, {}, now)[0]]
    assert len(matching) == 1
    weekend = judge({"type": "Weekend"}, {}, now)[0]
    assert weekend == (matching[0] in ("SATURDAY", "SUNDAY"))
    nth = [n for n in ("FIRST", "SECOND", "THIRD", "FOURTH", "LAST")
           if judge({"type": "DayWeekInMonth", "dayOfWeek": matching[0], "dayInMonth": n}, {},
                    now)[0]]
    assert nth and (len(nth) == 1 or nth[-1] == "LAST")
