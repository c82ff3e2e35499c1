"""Run flows from YAML text through the real parser and engine (host processes)."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from typing import Any

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Collect, LogLine, TaskRunStateChanged
from runner.executors import Executors, LocalExecutor
from runner.language.parse import parse_flow
from runner.model import Flow
from runner.ports import FlowLookup

FLOW = "io.kestra.plugin.core.flow"
LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"
SHELL = "io.kestra.plugin.scripts.shell.Commands"
FAIL = "io.kestra.plugin.core.execution.Fail"


def flow_of(text: str, file: str = "flow.yml") -> Flow:
    flow, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), file)
    assert flow is not None, "\n".join(d.format() for d in diagnostics)
    return flow


class Flows:
    """A FlowLookup over flows given as YAML texts."""

    def __init__(self, *texts: str) -> None:
        self.flows = {(f.namespace, f.id): f for f in (flow_of(t) for t in texts)}

    def get(self, namespace: str, flow_id: str) -> Flow | None:
        return self.flows.get((namespace, flow_id))


class Harness:
    def __init__(self, tmp_path: Path, flows: FlowLookup | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.events = Collect()
        self.engine = Engine(Executors(LocalExecutor()), self.events, flows=flows,
                             environ=environ or {}, data_dir=tmp_path / "data",
                             work_root=tmp_path)

    def run(self, text: str, inputs: dict[str, Any] | None = None,
            cancel: threading.Event | None = None) -> Execution:
        return self.engine.run(flow_of(text), inputs, cancel=cancel)

    def logs(self, task_id: str | None = None) -> list[str]:
        return [e.message for e in self.events.events
                if isinstance(e, LogLine) and (task_id is None or e.task_id == task_id)]

    def states(self, task_id: str) -> list[str]:
        return [str(e.state) for e in self.events.events
                if isinstance(e, TaskRunStateChanged) and e.task_id == task_id]


def runs(execution: Execution, task_id: str) -> list[dict[str, Any]]:
    return [tr for tr in execution.to_json()["taskRunList"] if tr["taskId"] == task_id]


def final(execution: Execution, task_id: str) -> str:
    found = runs(execution, task_id)
    assert len(found) == 1, f"{task_id} ran {len(found)} times"
    return str(found[0]["state"]["current"])
