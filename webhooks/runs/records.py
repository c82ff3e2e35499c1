"""What the server keeps of flows and runs: the flows at a commit, a run's record, the
broker seam for scale-out, and how runs are grouped (FlowService's data, without logic)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.diagnostics import Diagnostic
from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.errors import GitflowsError
from runner.model import Flow
from runner.reporters.commit_status import StatusReporter


class NotFoundError(GitflowsError):
    exit_code = 4


@dataclass(frozen=True)
class FlowAtCommit:
    repo: str
    commit: str
    ref: str | None
    file: str
    flow: Flow | None
    diagnostics: tuple[Diagnostic, ...]


@dataclass
class Record:
    execution: Execution
    repo: str
    commit: str
    engine: Engine
    logs: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    reporter: StatusReporter | None = None
    snapshot: Snapshot | None = None  # the flows of the run's commit (subflows, Flow triggers)
    view: dict[str, Any] | None = None  # the execution as the worker running it last reported it
    remote: bool = False  # runs in a `flows worker` process (scale-out), seen through its events
    trigger: dict[str, Any] | None = None  # what started it (the UI's executions filter)


class RunBroker(Protocol):
    """Scale-out dispatch (webhooks/scale): queued runs go to `flows worker` processes."""

    def enqueue(self, key: str, repo: str, namespace: str, flow_id: str, commit: str,
                trigger: dict[str, Any], untrusted: bool, inputs: dict[str, Any],
                execution_id: str | None = None,
                reuse: Mapping[str, Any] | None = None,
                labels: Mapping[str, str] | None = None) -> bool: ...

    def cancel(self, execution_id: str) -> bool: ...

    def resume(self, execution_id: str, inputs: Mapping[str, Any]) -> bool: ...


class Snapshot:
    """The flows of one commit, usable as the engine's FlowLookup for subflows."""

    def __init__(self, flows: list[FlowAtCommit]) -> None:
        self.flows = [f.flow for f in flows if f.flow is not None]
        self.by_id = {(flow.namespace, flow.id): flow for flow in self.flows}

    def get(self, namespace: str, flow_id: str) -> Flow | None:
        return self.by_id.get((namespace, flow_id))


def history_ref(trigger: Mapping[str, Any], ref: str | None) -> str | None:
    """The branch (or tag) a run is recorded under; a bare commit id is no ref."""
    for value in (trigger.get("branch"), trigger.get("tag"), trigger.get("ref"), ref):
        if value and not (len(str(value)) == 40 and all(c in "0123456789abcdef" for c in str(value))):
            return str(value)
    return None


def described(data: dict[str, Any], record: Record) -> dict[str, Any]:
    """An execution's answer (FlowService.describe) with where it came from, as a recorded
    run's answer has it (webhooks/runs/recorded.py): its trigger type and branch besides the
    repository and commit."""
    trigger = record.trigger or {"type": "manual"}
    data["trigger"] = {**data.get("trigger", {}), "type": trigger.get("type"),
                       "ref": history_ref(trigger, None)}
    return data


def supersede_group(repo: str, flow: str, trigger: Mapping[str, Any]) -> str | None:
    """Runs of one flow for one branch or pull request: a newer one supersedes older ones."""
    if trigger.get("type") == "push" and trigger.get("branch"):
        return f"{repo}:{flow}:refs/heads/{trigger['branch']}"
    if trigger.get("type") == "pull_request" and trigger.get("number") is not None:
        return f"{repo}:{flow}:refs/pull/{trigger['number']}"
    return None
