"""Run events from workers to servers, through a Redis stream.

On a worker, `RelaySink` (one more EventSink of every run) adds each log line and a
snapshot of the execution at each state change. On a server, `RelayReader` reads the
stream and keeps a Record per remote execution (its `view` is the last snapshot), so the
API, the UI's live logs (SSE) and /metrics show runs wherever they execute.
"""

from __future__ import annotations

import logging
from typing import Any

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Event, ExecutionStateChanged, LogLine, State, TaskRunStateChanged, iso
from runner.model import Flow, Position
from webhooks.background import Background
from webhooks.runs.service import FlowService, Record
from webhooks.scale.redisio import Events

log = logging.getLogger("gitflows.scale")


class RelaySink:
    """Worker side: publishes the events of the runs of one FlowService."""

    def __init__(self, events: Events, service: FlowService) -> None:
        self.events = events
        self.service = service

    def _where(self, execution_id: str) -> dict[str, Any]:
        record = self.service.registry.record(execution_id)
        flow = record.execution.flow
        return {"repo": record.repo, "commit": record.commit, "namespace": flow.namespace,
                "flow": flow.id}

    def emit(self, event: Event) -> None:
        try:
            if isinstance(event, LogLine):
                self.events.add("log", event.execution_id, {**self._where(event.execution_id), "line": {
                    "taskRunId": event.task_run_id, "taskId": event.task_id,
                    "attemptNumber": event.attempt, "level": event.level,
                    "message": event.message, "timestamp": iso(event.at)}})
            elif isinstance(event, ExecutionStateChanged | TaskRunStateChanged):
                self.snapshot("state", event.execution_id)
        except Exception as err:  # relaying must never break a run
            log.warning("cannot relay an event of %s: %s", event.execution_id, err)

    def snapshot(self, kind: str, execution_id: str) -> None:
        self.events.add(kind, execution_id, {**self._where(execution_id),
                                             "view": self.service.registry.describe(execution_id)})


class RelayReader(Background):
    """Server side: applies the stream to the service's records, from now on."""

    name = "gitflows-relay"

    def __init__(self, service: FlowService, events: Events) -> None:
        super().__init__()
        self.service = service
        self.events = events
        self.after = events.last_id()
        # remote records need an Engine; this one never runs anything (kill goes to workers)
        self.viewer = Engine(service.executors, service.runs, environ={}, data_dir=service.config.data_dir)

    def round(self) -> bool:
        entries = self.events.read(self.after, block_ms=500)
        for entry_id, kind, execution_id, data in entries:
            self.after = entry_id
            try:
                self.apply(kind, execution_id, data)
            except Exception as err:  # one odd entry must not stop the relay
                log.error("relay entry %s (%s of %s): %s", entry_id, kind, execution_id, err)
        return bool(entries)

    def idle(self) -> None:
        pass  # read() blocks already

    def _record(self, execution_id: str, data: dict[str, Any]) -> Record:
        def make() -> Record:
            flow = Flow(id=str(data.get("flow")), namespace=str(data.get("namespace")),
                        position=Position("(worker)", 1, 1), tasks=())
            return Record(Execution(execution_id, flow), str(data.get("repo")),
                          str(data.get("commit")), self.viewer, remote=True)

        return self.service.registry.adopt(execution_id, make)

    def apply(self, kind: str, execution_id: str, data: dict[str, Any]) -> None:
        record = self._record(execution_id, data)
        if kind == "log":
            record.logs.append(data["line"])
        elif kind in ("state", "end"):
            view = data["view"]
            view.pop("trigger", None)
            record.view = view
        elif kind == "restarted":  # its worker died or left: the same execution runs again
            record.logs.append({"level": "WARN", "message": "its worker stopped: running it again",
                                "timestamp": data.get("timestamp")})
            record.done.clear()
        elif kind in ("dead", "failed"):  # it could not start (a dead attempt: older workers)
            state = State.KILLED if kind == "dead" else State.FAILED
            view = dict(record.view or record.execution.to_json())
            view["state"] = {**view.get("state", {}), "current": str(state)}
            record.view = view
            if data.get("message"):
                record.logs.append({"level": "ERROR", "message": data["message"],
                                    "timestamp": data.get("timestamp")})
        if kind in ("end", "dead", "failed"):
            record.done.set()
        self.service.registry.changed()
