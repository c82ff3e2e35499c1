"""Kestra's Flow trigger: start a flow when another flow's execution ends.

    triggers:
      - id: after_build
        type: io.kestra.plugin.core.trigger.Flow
        states: [SUCCESS, WARNING]              # default: any final state
        conditions:                             # all must hold
          - type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: demo
            flowId: build
          - type: io.kestra.plugin.core.condition.ExecutionStatus
            in: [SUCCESS]
        preconditions:                          # or this shape (one upstream flow)
          flows:
            - {namespace: demo, flowId: build, states: [SUCCESS]}

Supported conditions: ExecutionStatus (in / notIn), ExecutionFlow (namespace, flowId),
ExecutionNamespace (namespace, comparison EQUALS | PREFIX | SUFFIX, or prefix: true), and
the others runner.triggers.conditions judges (Expression, ExecutionOutputs, Or, Not, DayWeek …).
Anything else makes the trigger not fire (say so in the log), never fire by mistake.
A flow's own end never triggers itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.events import State
from runner.model import Flow, Trigger
from runner.triggers.conditions import judge

FLOW_TRIGGER = "io.kestra.plugin.core.trigger.Flow"
CONDITION = "io.kestra.plugin.core.condition."
LEGACY_CONDITION = "io.kestra.core.models.conditions.types."


@dataclass(frozen=True)
class Finished:
    """An execution that reached a final state."""

    execution_id: str
    namespace: str
    flow_id: str
    state: State
    revision: int | None = None
    outputs: Mapping[str, Any] | None = None

    def variables(self) -> dict[str, Any]:
        return {"type": "flow", "executionId": self.execution_id, "namespace": self.namespace,
                "flowId": self.flow_id, "flowRevision": self.revision, "state": str(self.state),
                "outputs": dict(self.outputs or {})}


def _short(kind: str) -> str:
    for prefix in (CONDITION, LEGACY_CONDITION):
        if kind.startswith(prefix):
            return kind[len(prefix):]
    return kind


def _condition(condition: Mapping[str, Any], done: Finished) -> tuple[bool, str | None]:
    """(holds, why it cannot be judged)."""
    kind = _short(str(condition.get("type", "")))
    if kind in ("ExecutionStatus", "ExecutionStatusCondition"):
        states = {str(s).upper() for s in condition.get("in") or []}
        excluded = {str(s).upper() for s in condition.get("notIn") or []}
        return ((not states or str(done.state) in states) and str(done.state) not in excluded,
                None)
    if kind in ("ExecutionFlow", "ExecutionFlowCondition"):
        return (condition.get("namespace") == done.namespace
                and condition.get("flowId") == done.flow_id, None)
    if kind in ("ExecutionNamespace", "ExecutionNamespaceCondition"):
        namespace = str(condition.get("namespace", ""))
        comparison = str(condition.get("comparison", "PREFIX" if condition.get("prefix")
                                       else "EQUALS")).upper()
        holds = {"EQUALS": done.namespace == namespace,
                 "PREFIX": done.namespace.startswith(namespace),
                 "SUFFIX": done.namespace.endswith(namespace)}.get(comparison)
        return (bool(holds), None if holds is not None else f"unknown comparison {comparison}")
    return judge(condition, done.variables(), dt.datetime.now(dt.UTC))  # runner.triggers.conditions


def decide(flow: Flow, trigger: Trigger, done: Finished) -> tuple[bool, list[str]]:
    """Whether this Flow trigger of flow starts a run for the finished execution, and notes."""
    notes: list[str] = []
    if trigger.type != FLOW_TRIGGER or trigger.disabled:
        return False, notes
    if (flow.namespace, flow.id) == (done.namespace, done.flow_id):
        return False, notes
    if not done.state.terminal:
        return False, notes
    states = trigger.props.get("states")
    if states and str(done.state) not in {str(s).upper() for s in states}:
        return False, notes
    for condition in trigger.props.get("conditions") or []:
        holds, why = _condition(condition if isinstance(condition, dict) else {}, done)
        if why:
            notes.append(f"{flow.qualified_id}/{trigger.id}: {why}")
        if not holds:
            return False, notes
    upstream = (trigger.props.get("preconditions") or {}).get("flows") or []
    if len(upstream) > 1:
        notes.append(f"{flow.qualified_id}/{trigger.id}: preconditions on several flows "
                     "(a time window over all of them) are not supported yet")
        return False, notes
    for item in upstream:
        wanted = {str(s).upper() for s in item.get("states") or []}
        if item.get("namespace") != done.namespace or item.get("flowId") != done.flow_id \
                or (wanted and str(done.state) not in wanted):
            return False, notes
    return True, notes


def triggered(flows: list[Flow], done: Finished) -> list[tuple[Flow, Trigger, list[str]]]:
    """The flows (with the trigger that fires) that the end of `done` starts."""
    found = []
    for flow in flows:
        if flow.disabled:
            continue
        for trigger in flow.triggers:
            fires, notes = decide(flow, trigger, done)
            if fires:
                found.append((flow, trigger, notes))
                break
    return found
