"""`flows ci`: run the flows of `.flows/` that a CI event triggers, inside a CI job.

The event is a GitHub-shaped webhook payload (GitHub Actions' $GITHUB_EVENT_PATH, or a small
generic payload written by another CI), normalised by webhooks/providers and matched with the
server's own dispatch rules (runner/triggers/git.py: branch/tag/path filters, pull request types,
`[skip ci]`). Flows are read from the work tree (the checked-out commit). Each run reports a
commit status (StatusReporter), is recorded in the repository's notes history
(HistoryRecorder) and, when asked, the history is pushed to origin. Pull requests from forks
run untrusted: no secrets, no network in containers, token variables removed from the
environment, and no history push.

Exit code (`CiResult.exit_code`): 0 when every run ends SUCCESS/WARNING or nothing ran,
1 when one ends FAILED/KILLED/CANCELLED or a file of the flows directory is not a valid flow
(it fails like a run: diagnostics, a failure status, a summary row); usage errors raise
UsageError (exit 2).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from runner.ci.event import (
    CiOptions,
    Context,
    InvalidFlow,
    github_env,
    invalid_flows,
    report_invalid,
    resolve,
)
from runner.ci.report import summary_markdown, write_outputs
from runner.diagnostics import Diagnostic
from runner.errors import GitflowsError, UsageError
from runner.events import Event, EventSink, LogLine, State, TaskRunStateChanged, worst
from runner.executors import Executors, LocalExecutor
from runner.git.repo import GitRepo
from runner.history.notes import NotesStore, default_index_path
from runner.history.recorder import HistoryRecorder
from runner.ids import ulid
from runner.language.catalog import DirectoryFlows
from runner.model import Flow
from runner.reporters.commit_status import StatusReporter
from runner.reporters.console import ConsoleReporter
from runner.reporters.status_text import seconds_text
from runner.secrets import Secrets
from runner.session import RunRequest, RunSession, user_data_dir
from runner.triggers.git import explain, matching_triggers, skipped_triggers

# removed from the environment of untrusted runs (host processes inherit it)
SENSITIVE = ("GITHUB_TOKEN", "GITEA_TOKEN", "GITLAB_TOKEN", "FLOWS_TOKEN", "CI_JOB_TOKEN",
             "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
TAIL_LINES = 40


@dataclass(frozen=True)
class RunResult:
    flow: str
    state: State
    run_id: str | None = None
    seconds: float | None = None
    failed_task: str | None = None
    tail: tuple[str, ...] = ()
    note: str = ""  # why it was skipped, or why it could not start
    file: str | None = None  # set for a flow file that is not valid (it never ran)

    def as_dict(self) -> dict[str, Any]:
        return {"flow": self.flow, "state": str(self.state), "run": self.run_id,
                "seconds": self.seconds, "failedTask": self.failed_task, "note": self.note,
                **({"file": self.file} if self.file else {})}


@dataclass(frozen=True)
class CiResult:
    context: Context
    runs: tuple[RunResult, ...]
    skipped: tuple[RunResult, ...]
    invalid: tuple[RunResult, ...] = ()  # flow files that do not parse or validate: FAILED

    @property
    def state(self) -> State:
        if not self.runs and not self.invalid:
            return State.SKIPPED
        return worst([r.state for r in (*self.runs, *self.invalid)])

    @property
    def exit_code(self) -> int:
        return 0 if all(r.state in (State.SUCCESS, State.WARNING)
                        for r in (*self.runs, *self.invalid)) else 1

    def outputs(self) -> dict[str, str]:
        return {"state": str(self.state),
                "run-ids": ",".join(r.run_id for r in self.runs if r.run_id),
                "failed-flows": ",".join(r.flow for r in (*self.runs, *self.invalid)
                                         if r.state not in (State.SUCCESS, State.WARNING))}

    def as_dict(self) -> dict[str, Any]:
        ctx = self.context
        return {"event": ctx.event, "repo": ctx.repo, "sha": ctx.sha, "ref": ctx.ref,
                "untrusted": ctx.untrusted, "state": str(self.state),
                "runs": [r.as_dict() for r in self.runs],
                "skipped": [r.as_dict() for r in self.skipped],
                "invalid": [r.as_dict() for r in self.invalid]}


# -- which flows -------------------------------------------------------------------------------

Broken = list[tuple[Path, list[Diagnostic]]]


def catalog(folder: Path, say: Callable[[str], None], broken: Broken | None = None
            ) -> DirectoryFlows:
    """The flows of a directory, parsed once and shared by every run (subflows too). Files
    that are not valid flows are collected in `broken` (without it: a warning)."""
    def invalid(path: Path, diagnostics: list[Diagnostic]) -> None:
        if broken is not None:
            broken.append((path, diagnostics))
            return
        errors = [d.format() for d in diagnostics if d.is_error]
        say(f"warning: {path} is not a valid flow, not run: {'; '.join(errors[:3])}")

    return DirectoryFlows(folder, on_invalid=invalid)


def load_flows(folder: Path, say: Callable[[str], None]) -> dict[str, Flow]:
    """The valid flows of a directory by namespace.id (the first file wins a duplicate)."""
    return catalog(folder, say).all()


def select(ctx: Context, flows: Mapping[str, Flow], names: Sequence[str],
           say: Callable[[str], None], invalid: Collection[str] = ()
           ) -> tuple[list[tuple[Flow, str]], list[RunResult]]:
    """(flows to run with the trigger id that starts them, flows skipped by [skip ci]).
    `invalid`: names of invalid flow files, which fail instead of being unknown."""
    wanted = [n.strip() for name in names for n in name.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in flows and n not in invalid]
    if unknown:
        raise UsageError(f"--flow {', '.join(unknown)}: no such flow in {ctx.flows_dir} "
                         f"(found: {', '.join(sorted(flows)) or 'none'})")
    if ctx.git_event is None:
        if not wanted:
            raise UsageError(f"a {ctx.event} run needs the flows to run: --flow NAMESPACE.ID")
        return [(flows[n], "manual") for n in dict.fromkeys(wanted) if n in flows], []
    runs, skipped = [], []
    for name, flow in flows.items():
        if wanted and name not in wanted:
            continue
        for line in explain(flow, ctx.git_event):
            say(f"flows ci: {line}")
        matched = matching_triggers(flow, ctx.git_event)
        if matched:
            runs.append((flow, matched[0].id))
        elif decisions := skipped_triggers(flow, ctx.git_event):
            skipped.append(RunResult(name, State.SKIPPED, note=f"skipped: {decisions[0].skip}"))
    return runs, skipped


# -- running -----------------------------------------------------------------------------------

class _Tail:
    """Keeps the log tail of each task run and the first task run that failed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: dict[str | None, deque[str]] = {}
        self.failed: list[tuple[str, str]] = []

    def emit(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, LogLine):
                self.lines.setdefault(event.task_run_id, deque(maxlen=TAIL_LINES)).append(
                    event.message)
            elif isinstance(event, TaskRunStateChanged) and event.state is State.FAILED \
                    and all(run != event.task_run_id for run, _ in self.failed):
                self.failed.append((event.task_run_id, event.task_id))

    def failure(self) -> tuple[str | None, tuple[str, ...]]:
        with self.lock:
            run, task = self.failed[0] if self.failed else (None, None)
            return task, tuple(self.lines.get(run) or self.lines.get(None) or ())


@dataclass
class _Runner:
    ctx: Context
    session: RunSession
    inputs: Mapping[str, Any]
    store: NotesStore | None
    err: TextIO
    flows: DirectoryFlows
    errors: list[str] = field(default_factory=list)

    def reporter(self, flow: str, run_id: str) -> StatusReporter | None:
        ctx = self.ctx
        if not ctx.token or ctx.git_event is None:
            return None
        return StatusReporter(ctx.provider, ctx.api_url, ctx.token, ctx.repo, ctx.sha, flow,
                              ctx.target_url, execution_id=run_id)

    def run(self, flow: Flow, trigger_id: str, run_id: str,
            reporter: StatusReporter | None) -> RunResult:
        tail = _Tail()
        sinks: list[EventSink] = [ConsoleReporter(self.err), tail]
        recorder = None
        if self.store is not None:
            recorder = HistoryRecorder(self.store, self.ctx.sha, self.ctx.ref,
                                       str(self.ctx.trigger["type"]), self.ctx.runner)
            sinks.append(recorder)
        if reporter is not None:
            sinks.append(reporter)
        declared = {i.id for i in flow.inputs}
        request = RunRequest(flow, self.ctx.root, self.flows,
                             {k: v for k, v in self.inputs.items() if k in declared},
                             {**self.ctx.trigger, "id": trigger_id}, run_id,
                             untrusted=self.ctx.untrusted, sinks=tuple(sinks))
        try:
            prepared = self.session.prepare(request)
        except GitflowsError as err:
            print(f"error: {flow.qualified_id}: {err.message}", file=self.err)
            if reporter is not None:
                reporter.close(State.FAILED)
            return RunResult(flow.qualified_id, State.FAILED, run_id, note=err.message,
                             tail=(err.message,))
        execution = prepared.execute()
        if reporter is not None and not reporter.close(execution.state.current):
            self.errors.append(f"{flow.qualified_id}: the commit status was not sent in time")
        if recorder is not None:
            self.errors.extend(f"{flow.qualified_id}: {e}" for e in recorder.errors)
        history = execution.state.histories
        seconds = (history[-1][1] - history[0][1]).total_seconds() if history else None
        task, lines = tail.failure() if execution.state.current.failed else (None, ())
        return RunResult(flow.qualified_id, execution.state.current, run_id, seconds, task, lines)


def run_ci(options: CiOptions, environ: MutableMapping[str, str],
           executors: Callable[[], Executors], err: TextIO) -> CiResult:
    """Decide, run, report, record (and push the history when asked). See the module doc."""

    def say(text: str) -> None:
        print(text, file=err, flush=True)

    ctx = resolve(options, environ)
    head = GitRepo(ctx.root).resolve("HEAD")
    say(f"flows ci: {ctx.event} of {ctx.repo} at {ctx.sha[:12]}"
        + (f" ({ctx.ref})" if ctx.ref else "") + (", untrusted (fork)" if ctx.untrusted else ""))
    if head != ctx.sha:
        say(f"flows ci: note: the work tree is at {head[:12]}; flows are read from it")
    broken: Broken = []
    flows = catalog(ctx.flows_dir, say, broken)
    valid = flows.all()
    invalid = invalid_flows(ctx.root, broken, say)
    planned, skipped = select(ctx, valid, options.flows, say, {i.name for i in invalid})
    unused = set(options.inputs) - {i.id for flow, _ in planned for i in flow.inputs}
    if unused and planned:
        say(f"warning: no flow that runs declares the input(s) {', '.join(sorted(unused))}")
    secrets = Secrets(environ)
    if ctx.untrusted:  # host processes inherit the environment: no tokens, no secrets
        for key in [k for k in environ if k in SENSITIVE or k.startswith("SECRET_")]:
            del environ[key]
        say("flows ci: pull request from a fork: runs are untrusted (no secrets, no network)")
    try:
        store: NotesStore | None = NotesStore(ctx.root, index=default_index_path(ctx.root))
    except GitflowsError as err_store:
        say(f"warning: history not recorded: {err_store.message}")
        store = None
    session = RunSession(executors() if planned else Executors(LocalExecutor()),
                         user_data_dir(environ), environ=dict(environ), secrets=secrets,
                         masks=frozenset({ctx.token} if ctx.token else ()))
    runner = _Runner(ctx, session, options.inputs, store, err, flows)
    if not ctx.token and ctx.git_event is not None:
        say("flows ci: no token (GITHUB_TOKEN): commit statuses are not posted")
    _report_not_run(runner, skipped, invalid)
    jobs = [(flow, trigger_id, ulid()) for flow, trigger_id in planned]
    reporters = [runner.reporter(flow.qualified_id, run_id) for flow, _, run_id in jobs]
    for reporter in reporters:
        if reporter is not None:
            reporter.pending()

    def run_job(job: tuple[Flow, str, str], reporter: StatusReporter | None) -> RunResult:
        return runner.run(job[0], job[1], job[2], reporter)

    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        results = list(pool.map(run_job, jobs, reporters))
    for warning in runner.errors:
        say(f"warning: {warning}")
    if options.push_history:
        _push_history(ctx, store, bool(results), say)
    failed = tuple(RunResult(i.name, State.FAILED, note=f"invalid flow: {i.first_error}",
                             tail=tuple(d.format() for d in i.diagnostics), file=i.file)
                   for i in invalid)
    result = CiResult(ctx, tuple(results), tuple(skipped), failed)
    _write_reports(result, options, environ, say)
    return result


def _report_not_run(runner: _Runner, skipped: Sequence[RunResult],
                    invalid: Sequence[InvalidFlow]) -> None:
    """Statuses of flows that do not run: skipped ones succeed, invalid files fail."""
    for skip in skipped:
        skip_reporter = runner.reporter(skip.flow, "skipped")
        if skip_reporter is not None:
            skip_reporter.skipped(skip.note[:140])
            skip_reporter.close()
    for bad in invalid:
        reporter = runner.reporter(bad.name, "invalid")
        if reporter is not None and not report_invalid(reporter, bad):
            runner.errors.append(f"{bad.file}: the commit status was not sent in time")


def _write_reports(result: CiResult, options: CiOptions, environ: Mapping[str, str],
                   say: Callable[[str], None]) -> None:
    """The closing lines, the job summary and the step outputs."""
    for run in (*result.runs, *result.invalid, *result.skipped):
        say(f"flows ci: {run.flow} {run.state}" + (f" in {seconds_text(run.seconds)}"
                                                     if run.seconds is not None else ""))
    summary = options.summary or github_env(environ, "GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as out:
            out.write(summary_markdown(result))
    outputs = options.outputs or github_env(environ, "GITHUB_OUTPUT")
    if outputs:
        write_outputs(Path(outputs), result.outputs())


def _push_history(ctx: Context, store: NotesStore | None, ran: bool,
                  say: Callable[[str], None]) -> None:
    from runner.history.sync import push

    if ctx.untrusted:
        say("flows ci: history not pushed: runs of a pull request from a fork are untrusted "
            "(its token cannot push); they are recorded in this clone only")
    elif store is not None and ran:
        try:
            done = push(ctx.root, "origin", store=store)
            say(f"flows ci: history pushed to origin ({done.attempts} attempt(s))")
        except Exception as problem:  # pushing history never fails the job
            message = problem.message if isinstance(problem, GitflowsError) else repr(problem)
            say(f"warning: history not pushed to origin: {message}")


def describe(result: CiResult) -> str:
    """The result as JSON (`flows ci --json`)."""
    return json.dumps(result.as_dict(), indent=2)


__all__ = ["CiOptions", "CiResult", "Context", "RunResult", "describe", "resolve", "run_ci",
           "summary_markdown", "write_outputs"]
