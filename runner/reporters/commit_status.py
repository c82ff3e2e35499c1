"""Commit status / check-run reporter: an EventSink for one run that tells the forge.

`pending` when the run is queued, then the final state under the context
`flows/<namespace>.<id>`: GitHub, Gitea and GitLab commit statuses, or GitHub
check runs (with annotations) when a GitHub App is configured, falling back to
statuses when the app may not write checks (403).

Reports go out on a worker thread, in order, so the engine (which calls emit
under its run lock) never waits on the network; a failed report is logged and
never raised into the run. The server imports this module, the engine never does.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from runner.events import (
    Clock,
    Event,
    ExecutionStateChanged,
    LogLine,
    State,
    SystemClock,
    TaskRunStateChanged,
)
from runner.forges import github
from runner.forges.github_app import AppAuthError, GitHubApp
from runner.forges.status import (
    CONCLUSIONS,
    PROVIDERS,
    STATUS_STATES,
    CheckRuns,
    Outcome,
    Target,
    outcome_of,
    send_status,
)
from runner.http import HttpError, Transport, redact
from runner.reporters.status_text import (
    Annotation,
    RepoFiles,
    RunSummary,
    batches,
    clean,
    is_errorish,
    parse_annotation,
)

log = logging.getLogger("gitflows.report")

TAIL_LINES = 50
MAX_ANNOTATIONS = 1000
MAX_TRACKED_TASKS = 2000
SKIP_CI_REASON = "skipped: [skip ci]"
_STOP = None

Job = Callable[[], None]


def context_for(flow: str) -> str:
    """The status context / check-run name of a flow ("namespace.id")."""
    return f"flows/{flow}"


class StatusReporter:
    """Reports one run of one flow on one commit. Create it when the run is queued,
    call `pending()`, hand it every event of the run, and `close()` it at the end.

    `pending_sent`/`check_run_id` continue the report of a reporter that posted
    `pending` earlier (see `handover`)."""

    def __init__(self, provider: str, api_url: str | None, token: str | None, repo: str, sha: str,
                 flow: str, target_url: str | None = None, *, app: GitHubApp | None = None,
                 repo_files: RepoFiles | None = None, secrets: Iterable[str] = (),
                 execution_id: str | None = None, transport: Transport | None = None,
                 clock: Clock | None = None, background: bool = True,
                 pending_sent: bool = False, check_run_id: int | None = None) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
        self.target = Target(provider, api_url or "", repo, sha, context_for(flow), target_url)
        self.flow = flow
        self.execution_id = execution_id
        self.app = app if provider == github.PROVIDER.name else None  # Apps: GitHub only
        self.transport = transport or (app.transport if app is not None else Transport())
        self.clock = clock or SystemClock()
        self.repo_files = repo_files
        self._token = token
        self._secrets = tuple(s for s in (token, *secrets) if s and len(s) >= 3)
        self.mode = "checks" if self.app is not None else "statuses"
        self.enabled = bool(token) or self.app is not None
        self.errors: list[str] = []  # failed reports, secrets redacted (for logs and tests)
        self._background = background
        self._lock = threading.Lock()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._started, self._finished, self._running_sent = pending_sent, False, False
        self._check_run_id = check_run_id
        self._run_started: dt.datetime | None = None
        self._tasks: dict[str, tuple[str, State]] = {}  # task run id → (task id, latest state)
        self._failed_order: list[str] = []
        self._tails: dict[str | None, deque[str]] = {}
        self._first_error: dict[str | None, str] = {}
        self._annotations: dict[tuple[str, int, int | None, str], Annotation] = {}
        if not self.enabled:
            log.warning("%s on %s: no token or GitHub App configured; not reporting", flow, repo)

    # -- the run's side ------------------------------------------------------
    def pending(self) -> None:
        """The run is queued: post `pending` (or create a queued check run). Idempotent."""
        with self._lock:
            if self._started or self._finished:
                return
            self._started = True
        self._enqueue(lambda: self._start(running=False))

    def emit(self, event: Event) -> None:
        try:
            self._emit(event)
        except Exception:  # a reporter bug must never break the run
            log.exception("commit status reporter: could not take %s", type(event).__name__)

    def skipped(self, reason: str = SKIP_CI_REASON) -> None:
        """The flow's trigger matched but the commit asked to skip it: a skipped check run,
        or a success status saying why."""
        with self._lock:
            if self._finished:
                return
            self._finished = self._started = True
        summary = RunSummary(self.flow, State.SKIPPED, reason=reason,
                             target_url=self.target.target_url)
        self._enqueue(lambda: self._final(summary))

    def close(self, state: State | None = None, timeout: float = 30.0) -> bool:
        """End of the run: report `state` if the events never brought a final one (a run
        lost to an internal error), then wait for the reports. False if they did not all
        go out within `timeout` seconds."""
        if state is not None and state.terminal:
            with self._lock:
                missing = not self._finished
            if missing:
                self._finish(state, self.clock.now(), reason=None)
        thread = self._thread
        if thread is None:
            return True
        self._jobs.put(_STOP)
        thread.join(timeout)
        return not thread.is_alive()

    def handover(self) -> dict[str, Any]:
        """After `close()`: what a later reporter for the same run needs (keyword arguments)
        so that it neither posts `pending` again nor creates a second check run — for a
        pending posted when the run was queued by one process and run by another."""
        return {"pending_sent": self._started, "check_run_id": self._check_run_id}

    # -- events --------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if isinstance(event, LogLine):
            self._log_line(event)
        elif isinstance(event, TaskRunStateChanged):
            self._task_state(event)
        elif isinstance(event, ExecutionStateChanged):
            if self.execution_id is None:
                self.execution_id = event.execution_id
            if event.state.terminal:
                self._finish(event.state, event.at, reason=None)
            elif event.state is State.RUNNING:
                self._running(event.at)
            elif event.state in (State.CREATED, State.QUEUED):
                self.pending()

    def _running(self, at: dt.datetime) -> None:
        with self._lock:
            if self._run_started is None:
                self._run_started = at
            if self._finished or self._running_sent:
                return
            self._running_sent = True
            first = not self._started
            self._started = True
        self._enqueue(lambda: self._start(running=True) if first else self._mark_running(at))

    def _task_state(self, event: TaskRunStateChanged) -> None:
        with self._lock:
            if event.task_run_id not in self._tasks and len(self._tasks) >= MAX_TRACKED_TASKS:
                return
            self._tasks[event.task_run_id] = (event.task_id, event.state)
            if event.state is State.RUNNING and event.attempt > 1:  # a new attempt
                self._tails.pop(event.task_run_id, None)
                self._first_error.pop(event.task_run_id, None)
            if event.state is State.FAILED:
                if event.task_run_id in self._failed_order:
                    self._failed_order.remove(event.task_run_id)
                self._failed_order.append(event.task_run_id)

    def _log_line(self, event: LogLine) -> None:
        message = redact(event.message, self._secrets)
        key = event.task_run_id
        annotation = None
        if self.app is not None and self.repo_files is not None:
            annotation = parse_annotation(message, event.level, self.repo_files)
        with self._lock:
            if key not in self._tails and len(self._tails) >= MAX_TRACKED_TASKS:
                return
            self._tails.setdefault(key, deque(maxlen=TAIL_LINES)).append(message)
            if key not in self._first_error and is_errorish(event.level, message):
                text = clean(message)
                if text:
                    self._first_error[key] = text
            if annotation is not None and len(self._annotations) < MAX_ANNOTATIONS:
                ident = (annotation.path, annotation.start_line, annotation.start_column,
                         annotation.message)
                self._annotations.setdefault(ident, annotation)

    def _finish(self, state: State, at: dt.datetime, reason: str | None) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            summary = self._summary(state, at, reason)
        self._enqueue(lambda: self._final(summary))

    def _summary(self, state: State, at: dt.datetime, reason: str | None) -> RunSummary:
        failed = [r for r in self._failed_order if self._tasks.get(r, ("", State.SUCCESS))[1]
                  is State.FAILED]
        run_id = failed[0] if failed and state is State.FAILED else None
        task = self._tasks[run_id][0] if run_id is not None else None
        first_error = self._first_error.get(run_id) if run_id else None
        if first_error is None and state.failed:
            first_error = self._first_error.get(None)
        if first_error is None and run_id is not None and self._tails.get(run_id):
            first_error = clean(self._tails[run_id][-1])
        seconds = (at - self._run_started).total_seconds() if self._run_started else None
        return RunSummary(self.flow, state, seconds, task, first_error,
                          tuple(self._tails.get(run_id, ()) if run_id else self._tails.get(None, ())),
                          tuple(self._annotations.values()), self.target.target_url, reason)

    # -- reports (on the worker thread) --------------------------------------
    def _enqueue(self, job: Job) -> None:
        if not self.enabled:
            return
        if not self._background:
            self._safely(job)
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name=f"gitflows-status-{self.flow}")
                self._thread.start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            self._safely(job)

    def _safely(self, job: Job) -> None:
        try:
            job()
        except Exception as err:  # logged, never raised into the run
            message = redact(str(err), self._secrets) or type(err).__name__
            self.errors.append(message)
            log.error("%s on %s@%s: report failed: %s", self.target.context, self.target.repo,
                      self.target.sha[:12], message)

    def _status_token(self) -> str:
        if self._token:
            return self._token
        assert self.app is not None
        token = self.app.token(self.target.repo)
        self._secrets = (*self._secrets, token)
        return token

    def _checks_token(self) -> str:
        assert self.app is not None
        token = self.app.token(self.target.repo)
        if token not in self._secrets:
            self._secrets = (*self._secrets, token)
        return token

    def _post(self, outcome: Outcome, description: str) -> None:
        send_status(self.transport, self.target, self._status_token(), outcome, description)

    def _can_fall_back(self, err: Exception) -> bool:
        """403: the app may not write checks; an app that cannot authenticate at all
        leaves the configured token, if there is one."""
        if isinstance(err, HttpError):
            return err.status == 403
        return bool(self._token)

    def _fall_back(self, err: Exception) -> None:
        log.warning("%s: check runs unavailable (%s); using commit statuses", self.target.context,
                    redact(str(err), self._secrets))
        self.mode = "statuses"

    def _start(self, running: bool) -> None:
        summary = RunSummary(self.flow, State.RUNNING if running else State.QUEUED)
        if self.mode == "checks":
            body: dict[str, Any] = {"status": "in_progress" if running else "queued"}
            if running:
                body["started_at"] = _iso(self._run_started or self.clock.now())
            if self.execution_id:
                body["external_id"] = self.execution_id
            try:
                self._check_run_id = CheckRuns(self.transport, self.target).create(
                    self._checks_token(), body)
                return
            except (HttpError, AppAuthError) as err:
                if not self._can_fall_back(err):
                    raise
                self._fall_back(err)
        self._post(Outcome.RUNNING if running else Outcome.PENDING, summary.description())

    def _mark_running(self, at: dt.datetime) -> None:
        if self.mode == "checks" and self._check_run_id is not None:
            try:
                CheckRuns(self.transport, self.target).update(
                    self._checks_token(), self._check_run_id,
                    {"status": "in_progress", "started_at": _iso(at)})
            except (HttpError, AppAuthError) as err:
                if not self._can_fall_back(err):
                    raise
                self._fall_back(err)
                self._post(Outcome.RUNNING, "running")
        elif self.mode == "statuses" and _shows_running(self.target.provider):
            self._post(Outcome.RUNNING, "running")

    def _final(self, summary: RunSummary) -> None:
        outcome = outcome_of(summary.state)
        if self.mode == "checks":
            try:
                self._complete_check_run(summary, outcome)
                return
            except (HttpError, AppAuthError) as err:
                if not self._can_fall_back(err):
                    raise
                self._fall_back(err)
        self._post(outcome, summary.description())

    def _complete_check_run(self, summary: RunSummary, outcome: Outcome) -> None:
        checks = CheckRuns(self.transport, self.target)
        token = self._checks_token()
        groups = batches(summary.annotations) or [()]
        output: dict[str, Any] = {"title": summary.title(), "summary": summary.summary()}
        text = summary.text()
        if text:
            output["text"] = text
        body: dict[str, Any] = {
            "status": "completed", "conclusion": CONCLUSIONS[outcome],
            "completed_at": _iso(self.clock.now()),
            "output": {**output, "annotations": [a.to_github() for a in groups[0]]}}
        if self._check_run_id is None:
            if self.execution_id:
                body["external_id"] = self.execution_id
            self._check_run_id = checks.create(token, body)
        else:
            checks.update(token, self._check_run_id, body)
        for group in groups[1:]:  # GitHub appends annotations, 50 per request
            checks.update(token, self._check_run_id, {"output": {
                **output, "annotations": [a.to_github() for a in group]}})


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shows_running(provider: str) -> bool:
    """The forge's status API tells running from pending (GitLab): worth a second post."""
    states = STATUS_STATES[provider]
    return states[Outcome.RUNNING] != states[Outcome.PENDING]
