"""FlowService: the server's core, without HTTP. Finds flows at a commit, runs
them on a worker pool, keeps executions and logs for the API.

Flows come from `.flows/` at the commit a run is for, and the run's namespace
files are that commit's tree, so a run can be reproduced from its commit.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from runner.engine.execution import Execution
from runner.errors import GitflowsError
from runner.events import Event, EventSink, LogLine, State, iso
from runner.executors import Executors
from runner.git.mirror import ensure_mirror, fetch, is_remote, mirror_path
from runner.git.repo import GitRepo
from runner.history import query
from runner.history.notes import NotesStore
from runner.history.recorder import HistoryRecorder
from runner.ids import ulid
from runner.language.parse import parse_flow
from runner.reporters.console import ConsoleReporter
from runner.secrets import Secrets, masked
from runner.session import RunRequest, RunSession
from runner.triggers.flow import Finished, triggered
from webhooks.config import ServerConfig
from webhooks.ingress.inbox import Inbox
from webhooks.ingress.receive import config_secrets
from webhooks.runs.queue import RunQueue
from webhooks.runs.records import (
    FlowAtCommit,
    NotFoundError,
    Record,
    RunBroker,
    Snapshot,
    history_ref,
    supersede_group,
)
from webhooks.runs.reporting import Reporting

FLOWS_DIR = ".flows"
__all__ = ["FLOWS_DIR", "FlowAtCommit", "FlowService", "NotFoundError", "Record", "RunBroker"]


class FlowService:
    def __init__(self, config: ServerConfig, executors: Executors,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.executors = executors
        self.environ = dict(os.environ if environ is None else environ)
        self.mirrors: dict[str, Path] = {}  # served repositories that are remote: name → mirror
        self.repos: dict[str, GitRepo] = {}
        for repo in config.repos:
            if is_remote(repo.location):
                path = ensure_mirror(repo.location, mirror_path(config.data_dir / "mirrors", repo.name),
                                     self._token(repo.name))
                self.mirrors[repo.name] = path
                self.repos[repo.name] = GitRepo(path)
            else:
                self.repos[repo.name] = GitRepo(Path(repo.location))
        self.pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="gitflows-run")
        self.lock = threading.Lock()
        self.records: dict[str, Record] = {}
        self._stores: dict[str, NotesStore] = {}
        self._groups: dict[str, list[str]] = {}  # concurrency group → executions, oldest first
        self.console = ConsoleReporter(sys.stderr)
        self.reporting = Reporting(config, self.environ)
        self.secrets = Secrets(self.environ)
        self.inbox = Inbox(config.data_dir / "inbox.sqlite3")
        self.queue = RunQueue(config.data_dir / "runs.sqlite3")
        self._queued = threading.Event()
        self.secret_for = config_secrets(config.repos, self.environ)
        # scale-out: with a broker, enqueue hands runs to workers; `executes` False (flows serve
        # --broker) also sends API-started runs there; extra sinks see every run's events
        self.broker: RunBroker | None = None
        self.executes = True
        self.outbox = False  # flows serve --broker: queue locally first, a Forwarder sends on
        self.session = RunSession(executors, config.data_dir, environ=self.environ,
                                  secrets=self.secrets, sinks=[self],
                                  masks=self._sensitive())
        # after the history and the status (a relay must not announce an end not yet recorded)
        self.sinks: list[EventSink] = []
        self._wake = threading.Event()
        self._logs_changed = threading.Condition(self.lock)

    def wake_dispatcher(self) -> None:
        """A delivery was stored: let the dispatcher look now rather than at its next poll."""
        self._wake.set()

    def wait_for_delivery(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def enqueue(self, key: str, repo: str, namespace: str, flow_id: str, commit: str,
                trigger: Mapping[str, Any], untrusted: bool = False,
                inputs: Mapping[str, Any] | None = None) -> bool:
        """Queue a run durably (once per key); the queue worker (or a `flows worker`) starts it."""
        if self.broker is not None and not self.outbox:
            return self.broker.enqueue(key, repo, namespace, flow_id, commit, dict(trigger),
                                       untrusted, dict(inputs or {}))
        added = self.queue.enqueue(key, repo, namespace, flow_id, commit, dict(trigger), untrusted,
                                   dict(inputs or {}))
        self._queued.set()
        return added

    def wake_queue(self) -> None:
        """Runs were queued behind enqueue's back (a batch of events): start them now."""
        self._queued.set()

    def wait_for_queue(self, timeout: float) -> None:
        self._queued.wait(timeout)
        self._queued.clear()

    def _sensitive(self) -> frozenset[str]:
        """The server's own secrets (forge tokens, webhook secrets): masked in every run."""
        names = [r.token_env for r in self.config.repos if r.token_env]
        names += [r.webhook_secret_env for r in self.config.repos if r.webhook_secret_env]
        return frozenset(v for n in names if (v := self.environ.get(n)))

    def _token(self, name: str) -> str | None:
        env = next((r.token_env for r in self.config.repos if r.name == name), None)
        return self.environ.get(env) if env else None

    def refresh(self, name: str) -> None:
        """Fetch a remote repository's mirror so the event's commit is here."""
        if name in self.mirrors:
            fetch(self.mirrors[name], self._token(name))

    def repo_name(self, full_name: str) -> str | None:
        """The served repository a provider's full name (owner/name) refers to."""
        for name in self.repos:
            if name.lower() == full_name.lower():
                return name
        return None

    def _superseded(self, name: str) -> str:
        return next((r.superseded for r in self.config.repos if r.name == name), "cancel")

    def trusts_forks(self, name: str) -> bool:
        return any(r.name == name and r.trusted_forks for r in self.config.repos)

    # -- flows ------------------------------------------------------------------
    def flows(self, repo: str | None = None, ref: str | None = None) -> list[FlowAtCommit]:
        found = []
        for name, git in self.repos.items():
            if repo is not None and name != repo:
                continue
            commit = git.resolve(ref or "HEAD")
            branch = ref or git.current_branch()
            for path, text in sorted(git.files_at(commit, FLOWS_DIR).items()):
                flow, diagnostics = parse_flow(text, path)
                found.append(FlowAtCommit(name, commit, branch, path, flow, tuple(diagnostics)))
        return found

    def find(self, namespace: str, flow_id: str, repo: str | None = None,
             ref: str | None = None) -> tuple[FlowAtCommit, list[FlowAtCommit]]:
        snapshot = self.flows(repo, ref)
        matches = [f for f in snapshot if f.flow and f.flow.namespace == namespace
                   and f.flow.id == flow_id]
        if not matches:
            raise NotFoundError(f"flow {namespace}.{flow_id} not found"
                                + (f" in {repo}" if repo else "") + (f" at {ref}" if ref else ""))
        if len({m.repo for m in matches}) > 1:
            raise GitflowsError(f"flow {namespace}.{flow_id} exists in several repositories "
                                f"({', '.join(sorted({m.repo for m in matches}))}); add ?repo=NAME")
        return matches[0], [f for f in snapshot if f.repo == matches[0].repo]

    # -- executions -------------------------------------------------------------
    def start(self, namespace: str, flow_id: str, inputs: Mapping[str, Any], *,
              repo: str | None = None, ref: str | None = None,
              trigger: Mapping[str, Any] | None = None,
              labels: Mapping[str, str] | None = None, untrusted: bool = False,
              execution_id: str | None = None,
              reuse: Mapping[str, Any] | None = None, seq_from: int = 0) -> Execution:
        """Check the inputs now (UsageError on bad ones) and queue the run; reuse: a re-run's
        outputs of an earlier run (Engine.prepare); seq_from: a taken-over run's history
        continues above its earlier attempts (runner.history.attempts)."""
        target, snapshot = self.find(namespace, flow_id, repo, ref)
        assert target.flow is not None
        flows_at_commit = Snapshot(snapshot)
        checkout = Path(tempfile.mkdtemp(prefix="gitflows-checkout-", dir=self.config.data_dir))
        trigger = dict(trigger or {"type": "manual"})
        recorder = self._recorder(target, trigger, seq_from)
        execution_id = execution_id or ulid()
        reporter = self.reporting.reporter(target.repo, target.commit, target.flow.qualified_id,
                                           execution_id, trigger, checkout)
        request = RunRequest(target.flow, checkout, flows_at_commit, inputs, trigger,
                             execution_id, labels=labels, reuse=reuse, untrusted=untrusted,
                             scope=target.repo,
                             sinks=(recorder, *([reporter] if reporter else []), *self.sinks))
        try:
            prepared = self.session.prepare(request)
        except GitflowsError:
            shutil.rmtree(checkout, ignore_errors=True)
            raise
        execution = prepared.execution
        remote = self.broker is not None and not self.executes
        record = Record(execution, target.repo, target.commit, prepared.engine, reporter=reporter,
                        snapshot=flows_at_commit, remote=remote, trigger=trigger)
        if remote:  # a worker checks out, runs, records and reports it
            shutil.rmtree(checkout, ignore_errors=True)
            reporter = record.reporter = None
        if reporter is not None:
            reporter.pending()
        group = supersede_group(target.repo, target.flow.qualified_id, trigger)
        with self.lock:
            self.records[execution.id] = record
            older = self._groups.get(group, []) if group else []
            if group:
                self._groups[group] = [*(i for i in older if not self.records[i].done.is_set()),
                                       execution.id]
        if group and self._superseded(target.repo) == "cancel":
            for old in older:
                if self.kill(old):
                    self.console.emit(LogLine(old, None, None, 0, "WARN",
                                              f"superseded by {execution.id} for {group}",
                                              dt.datetime.now(dt.UTC)))
        if remote:
            assert self.broker is not None
            self.broker.enqueue(f"api:{execution.id}", target.repo, namespace, flow_id,
                                target.commit, trigger, untrusted, dict(inputs), execution.id,
                                reuse=reuse, labels=labels)
        else:
            self.pool.submit(self._execute, record, checkout, trigger)
        return execution

    def _recorder(self, target: FlowAtCommit, trigger: Mapping[str, Any],
                  seq_from: int) -> HistoryRecorder:
        return HistoryRecorder(self.history(target.repo), target.commit,
                               history_ref(trigger, target.ref), str(trigger.get("type")),
                               f"flows serve@{socket.gethostname()}", seq_from=seq_from,
                               on_error=lambda err: self.console.emit(LogLine(
                                   "-", None, None, 0, "WARN", f"history: {err}",
                                   dt.datetime.now(dt.UTC))))

    def history_rows(self, *, repo: str | None = None, flow: str | None = None,
                     ref: str | None = None, state: str | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        """Recorded runs of the served repositories (all, or one), newest first."""
        rows: list[dict[str, Any]] = []
        for name in self.repos:
            if repo is None or name == repo:
                found = query.history(self.history(name), flow=flow, ref=ref,
                                      state=state.upper() if state else None, limit=limit)
                rows += [{**row, "repo": name} for row in query.history_json(found)]
        rows.sort(key=lambda row: str(row.get("started") or ""), reverse=True)
        return rows[:limit]

    def history_run(self, run: str, repo: str | None = None) -> dict[str, Any]:
        """One recorded run (a unique prefix will do), searched in every served repository."""
        for name in self.repos:
            if repo is None or name == repo:
                try:
                    return {**query.show_json(query.show(self.history(name), run)), "repo": name}
                except query.UnknownRunError:
                    continue
        raise NotFoundError(f"no recorded run {run}")

    def history(self, name: str) -> NotesStore:
        """The run history of a served repository: its own refs/notes/flows."""
        with self.lock:
            store = self._stores.get(name)
            if store is None:
                index = self.config.data_dir / "history" / f"{mirror_path(Path(), name).stem}.sqlite"
                index.parent.mkdir(parents=True, exist_ok=True)
                store = self._stores[name] = NotesStore(self.repos[name].path, index=index)
            return store

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
                                    {**self.describe(record.execution.id), "logs": record.logs})
            record.done.set()
            with self._logs_changed:
                self._logs_changed.notify_all()

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
            self.enqueue(f"flow:{execution.id}:{flow.qualified_id}", record.repo, flow.namespace,
                         flow.id, record.commit, {**done.variables(), "id": trigger.id},
                         untrusted=record.engine.executors.untrusted,
                         inputs=trigger.props.get("inputs") or {})

    def source(self, namespace: str, flow_id: str, repo: str | None = None,
               ref: str | None = None) -> tuple[FlowAtCommit, str]:
        """A flow and its YAML text at the commit it was read from."""
        target, _ = self.find(namespace, flow_id, repo, ref)
        text = self.repos[target.repo].files_at(target.commit, FLOWS_DIR)[target.file]
        return target, text

    def follow(self, execution_id: str, start: int,
               timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """The log lines from index start on, waiting up to timeout for some; and whether
        the execution is over (then no line follows those returned)."""
        record = self.record(execution_id)
        with self._logs_changed:
            self._logs_changed.wait_for(lambda: len(record.logs) > start or record.done.is_set(),
                                        timeout)
            return record.logs[start:], record.done.is_set()

    def record(self, execution_id: str) -> Record:
        with self.lock:
            record = self.records.get(execution_id)
        if record is None:
            raise NotFoundError(f"execution {execution_id} not found")
        return record

    def describe(self, execution_id: str) -> dict[str, Any]:
        record = self.record(execution_id)
        data = dict(record.view) if record.view is not None else record.execution.to_json()
        data["trigger"] = {"repo": record.repo, "commit": record.commit}
        return data

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.lock:
            records = list(self.records.values())[-limit:]
        return [self.describe(r.execution.id) for r in reversed(records)]

    def kill(self, execution_id: str) -> bool:
        record = self.record(execution_id)
        if record.remote and self.broker is not None:
            return not record.done.is_set() and self.broker.cancel(execution_id)
        return record.engine.kill(execution_id)

    def resume(self, execution_id: str, inputs: Mapping[str, Any]) -> bool:
        record = self.record(execution_id)
        if record.remote and self.broker is not None:
            return not record.done.is_set() and self.broker.resume(execution_id, inputs)
        return record.engine.resume(execution_id, inputs)

    def close(self) -> None:
        """Stop: kill running executions (their queued runs are taken over after a restart)."""
        with self.lock:
            running = [r for r in self.records.values() if not r.done.is_set() and not r.remote]
        for record in running:
            record.engine.kill(record.execution.id)
        for record in running:
            record.done.wait(10)
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- EventSink --------------------------------------------------------------
    def emit(self, event: Event) -> None:
        self.console.emit(event)
        if isinstance(event, LogLine):
            with self.lock:
                record = self.records.get(event.execution_id)
            if record is not None:
                record.logs.append({"taskRunId": event.task_run_id, "taskId": event.task_id,
                                    "attemptNumber": event.attempt, "level": event.level,
                                    "message": event.message, "timestamp": iso(event.at)})
                with self._logs_changed:
                    self._logs_changed.notify_all()
