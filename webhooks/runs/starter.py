"""RunStarter: starts the server's runs through RunSession (runner/session.py) and sees them
through — checkout at the run's commit, history, statuses and alerts, the Flow triggers its
end fires, superseding older runs of its branch — and kills or resumes them. Runs execute on
its thread pool, or on `flows worker` processes when the intake hands them off.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from runner.engine.execution import Execution
from runner.errors import GitflowsError
from runner.events import Event, EventSink, LogLine, State, iso
from runner.executors import Executors
from runner.history.recorder import HistoryRecorder
from runner.ids import ulid
from runner.ports.task import RunSource
from runner.reporters.commit_status import StatusReporter
from runner.reporters.console import ConsoleReporter
from runner.secrets import Secrets, masked
from runner.session import RunRequest, RunSession
from runner.triggers.flow import Finished, triggered
from webhooks.runs.catalog import FlowCatalog
from webhooks.runs.intake import Intake
from webhooks.runs.records import FlowAtCommit, Record, Snapshot, history_ref, supersede_group
from webhooks.runs.registry import RunRegistry
from webhooks.runs.reporting import Reporting
from webhooks.runs.repos import Repositories


class RunStarter:
    """Also the EventSink of every run: log lines go to the console and the run's record."""

    def __init__(self, repos: Repositories, catalog: FlowCatalog, registry: RunRegistry,
                 intake: Intake, executors: Executors, secrets: Secrets) -> None:
        self.repos, self.catalog, self.registry, self.intake = repos, catalog, registry, intake
        config, environ = repos.config, repos.environ
        self.data_dir = config.data_dir
        self.console = ConsoleReporter(sys.stderr)
        self.reporting = Reporting(config, environ)
        self.pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="gitflows-run")
        self.session = RunSession(executors, config.data_dir, environ=environ, secrets=secrets,
                                  sinks=[self], masks=repos.sensitive())
        # after the history and the status (a relay must not announce an end not yet recorded)
        self.sinks: list[EventSink] = []

    def start(self, namespace: str, flow_id: str, inputs: Mapping[str, Any], *,
              repo: str | None = None, ref: str | None = None,
              trigger: Mapping[str, Any] | None = None,
              labels: Mapping[str, str] | None = None, untrusted: bool = False,
              execution_id: str | None = None,
              reuse: Mapping[str, Any] | None = None, seq_from: int = 0) -> Execution:
        """Check the inputs now (UsageError on bad ones) and queue the run; reuse: a re-run's
        outputs of an earlier run (Engine.prepare); seq_from: a taken-over run's history
        continues above its earlier attempts (runner.history.attempts)."""
        target, snapshot = self.catalog.find(namespace, flow_id, repo, ref)
        assert target.flow is not None
        flows_at_commit = Snapshot(snapshot)
        checkout = Path(tempfile.mkdtemp(prefix="gitflows-checkout-", dir=self.data_dir))
        trigger = dict(trigger or {"type": "manual"})
        execution_id = execution_id or ulid()
        reporter = self.reporting.reporter(target.repo, target.commit, target.flow.qualified_id,
                                           execution_id, trigger, checkout)
        sinks: tuple[EventSink, ...] = (self._recorder(target, trigger, seq_from),
                                        *([reporter] if reporter else []), *self.sinks)
        request = RunRequest(target.flow, checkout, flows_at_commit, inputs, trigger,
                             execution_id, labels=labels, reuse=reuse, untrusted=untrusted,
                             scope=target.repo, sinks=sinks,
                             source=RunSource(target.repo, history_ref(trigger, target.ref)
                                              or trigger.get("head"), target.commit))
        try:
            prepared = self.session.prepare(request)
        except GitflowsError:
            shutil.rmtree(checkout, ignore_errors=True)
            raise
        remote = self.intake.remote
        record = Record(prepared.execution, target.repo, target.commit, prepared.engine,
                        reporter=reporter, snapshot=flows_at_commit, remote=remote,
                        trigger=trigger)
        self._launch(record, checkout, reporter, target.flow.qualified_id)
        if remote:
            assert self.intake.broker is not None
            self.intake.broker.enqueue(f"api:{record.execution.id}", target.repo, namespace,
                                       flow_id, target.commit, trigger, untrusted, dict(inputs),
                                       record.execution.id, reuse=reuse, labels=labels)
        else:
            self.pool.submit(self._execute, record, checkout, trigger)
        return record.execution

    def _launch(self, record: Record, checkout: Path, reporter: StatusReporter | None,
                flow: str) -> None:
        """Announce a run (pending status), keep its record, supersede older runs of its group."""
        if record.remote:  # a worker checks out, runs, records and reports it
            shutil.rmtree(checkout, ignore_errors=True)
            reporter = record.reporter = None
        if reporter is not None:
            reporter.pending()
        assert record.trigger is not None
        group = supersede_group(record.repo, flow, record.trigger)
        older = self.registry.add(record, group)
        if group and self.repos.superseded(record.repo) == "cancel":
            for old in older:
                if self.kill(old):
                    self.console.emit(LogLine(old, None, None, 0, "WARN",
                                              f"superseded by {record.execution.id} for {group}",
                                              dt.datetime.now(dt.UTC)))

    def _recorder(self, target: FlowAtCommit, trigger: Mapping[str, Any],
                  seq_from: int) -> HistoryRecorder:
        return HistoryRecorder(self.repos.history(target.repo), target.commit,
                               history_ref(trigger, target.ref), str(trigger.get("type")),
                               f"flows serve@{socket.gethostname()}", seq_from=seq_from,
                               on_error=lambda err: self.console.emit(LogLine(
                                   "-", None, None, 0, "WARN", f"history: {err}",
                                   dt.datetime.now(dt.UTC))))

    def _execute(self, record: Record, checkout: Path, trigger: dict[str, Any]) -> None:
        try:
            self.repos[record.repo].export(record.commit, checkout)
            record.engine.execute(record.execution, trigger=trigger)
            self._flow_triggers(record)
        except Exception as err:  # a bug must not kill the worker thread silently
            record.logs.append({"level": "ERROR", "message": f"internal error: {err!r}",
                                "timestamp": iso(record.engine.clock.now())})
            if not record.execution.state.current.terminal:
                record.execution.state.set(State.FAILED, record.engine.clock.now())
        finally:
            shutil.rmtree(checkout, ignore_errors=True)
            self.reporting.finished(record.reporter, record.execution.state.current,
                                    {**self.registry.describe(record.execution.id),
                                     "logs": record.logs})
            record.done.set()
            self.registry.changed()

    def _flow_triggers(self, record: Record) -> None:
        """Queue the flows whose Flow trigger this execution's end fires (same commit)."""
        execution = record.execution
        done = Finished(execution.id, execution.flow.namespace, execution.flow.id,
                        execution.state.current, execution.flow.revision,
                        masked(execution.outputs, set(execution.secrets)))  # stored with the run
        flows = record.snapshot.flows if record.snapshot is not None else []
        for flow, trigger, notes in triggered(flows, done):
            for note in notes:
                self.console.emit(LogLine(execution.id, None, None, 0, "WARN", note,
                                          dt.datetime.now(dt.UTC)))
            # an untrusted run's commit holds the triggered flow too: it stays untrusted
            self.intake.enqueue(f"flow:{execution.id}:{flow.qualified_id}", record.repo,
                                flow.namespace, flow.id, record.commit,
                                {**done.variables(), "id": trigger.id},
                                untrusted=record.engine.executors.untrusted,
                                inputs=trigger.props.get("inputs") or {})

    def kill(self, execution_id: str) -> bool:
        record = self.registry.record(execution_id)
        if record.remote and self.intake.broker is not None:
            return not record.done.is_set() and self.intake.broker.cancel(execution_id)
        return record.engine.kill(execution_id)

    def resume(self, execution_id: str, inputs: Mapping[str, Any]) -> bool:
        record = self.registry.record(execution_id)
        if record.remote and self.intake.broker is not None:
            return not record.done.is_set() and self.intake.broker.resume(execution_id, inputs)
        return record.engine.resume(execution_id, inputs)

    def close(self) -> None:
        """Stop: kill running executions (their queued runs are taken over after a restart)."""
        running = [r for r in self.registry.all() if not r.done.is_set() and not r.remote]
        for record in running:
            record.engine.kill(record.execution.id)
        for record in running:
            record.done.wait(10)
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- EventSink --------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self.console.emit(event)
        if isinstance(event, LogLine):
            self.registry.log(event.execution_id, {
                "taskRunId": event.task_run_id, "taskId": event.task_id,
                "attemptNumber": event.attempt, "level": event.level, "message": event.message,
                "timestamp": iso(event.at)})
