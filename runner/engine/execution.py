"""Run records: what happened in an execution, serialisable as Kestra's JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.durations import format_duration
from runner.events import State, iso
from runner.model import Flow
from runner.secrets import MASK, masked


@dataclass
class StateHistory:
    current: State = State.CREATED
    histories: list[tuple[State, dt.datetime]] = field(default_factory=list)
    _start: str | None = field(default=None, repr=False, compare=False)  # start_date, once made

    def set(self, state: State, at: dt.datetime) -> None:
        self.current = state
        self.histories.append((state, at))

    @property
    def start_date(self) -> str | None:
        if self._start is None and self.histories:
            self._start = iso(self.histories[0][1])
        return self._start

    def to_json(self) -> dict[str, Any]:
        start = self.histories[0][1] if self.histories else None
        end = self.histories[-1][1] if self.histories and self.current.terminal else None
        data: dict[str, Any] = {
            "current": str(self.current),
            "histories": [{"state": str(s), "date": iso(at)} for s, at in self.histories],
            "startDate": iso(start) if start else None,
        }
        if start and end:
            data["endDate"] = iso(end)
            data["duration"] = format_duration(end - start)
        return data


@dataclass
class Attempt:
    state: StateHistory = field(default_factory=StateHistory)

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.to_json()}


@dataclass
class TaskRunRecord:
    id: str
    task_id: str
    value: str | None = None
    parent_task_run_id: str | None = None
    state: StateHistory = field(default_factory=StateHistory)
    attempts: list[Attempt] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "taskId": self.task_id, "value": self.value,
            "parentTaskRunId": self.parent_task_run_id,
            "state": self.state.to_json(),
            "attempts": [a.to_json() for a in self.attempts],
            "outputs": self.outputs,
        }


@dataclass
class Execution:
    id: str
    flow: Flow
    inputs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    state: StateHistory = field(default_factory=StateHistory)
    task_runs: list[TaskRunRecord] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # outputs.<task> as expressions see them (loop-shaped under ForEach), kept for re-runs
    task_outputs: dict[str, Any] = field(default_factory=dict)
    # a re-run's outputs of an earlier run: top-level tasks named here are not run again
    reuse: dict[str, Any] = field(default_factory=dict)
    # every secret value this run has seen (secret() results, SECRET inputs): masked wherever
    # the execution is shown
    secrets: set[str] = field(default_factory=set)

    def secret_inputs(self) -> set[str]:
        """The ids of the flow's SECRET-typed inputs."""
        return {i.id for i in self.flow.inputs if i.type.upper() == "SECRET"}

    def shown_inputs(self, mask: Callable[[Any], Any] = lambda value: value) -> dict[str, Any]:
        """The inputs with a SECRET input whole as MASK and every other value through mask
        (e.g. secret values masked in it)."""
        secret = self.secret_inputs()
        return {k: MASK if k in secret and v not in (None, "") else mask(v)
                for k, v in self.inputs.items()}

    def to_json(self) -> dict[str, Any]:
        """The shape of Kestra's execution API (`taskRunList`, `state.current` …), every
        secret masked: a SECRET input whole, any secret value wherever it appears."""
        shown: dict[str, Any] = masked({
            "id": self.id,
            "namespace": self.flow.namespace,
            "flowId": self.flow.id,
            "flowRevision": self.flow.revision,
            "state": self.state.to_json(),
            "inputs": self.shown_inputs(),
            "outputs": self.outputs,
            "labels": [{"key": k, "value": v} for k, v in self.labels.items()],
            "taskRunList": [tr.to_json() for tr in self.task_runs],
        }, set(self.secrets))
        return shown
