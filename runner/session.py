"""RunRequest → RunSession: the one place a run is built.

Every face (`flows run`, `flows ci`, `flows serve` and its queue, `flows worker`, bisect,
re-runs) turns its arguments into a RunRequest and hands it to the RunSession it holds.
The session owns what every run of that face shares and decides, once, what a run gets:

- trust: an untrusted run (a fork's pull request) gets executors marked untrusted (steps
  only in containers, network none, no volumes), no secrets, no `ENV_*`/`SECRET_*`
  variables and no KV store — whatever its flow says;
- secrets and masking: `secret()` reads the session's Secrets; every value the face knows
  to be sensitive (forge tokens) is masked in every event of every run, at the source;
- data: one data directory per face (`<data>/kv` is the KV store), one FlowSlots ledger,
  so a flow's `concurrency` limit holds across all runs of the face;
- sinks: the face's own (console, server records, relay) plus the run's (history,
  commit status), fanned out.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

from runner.engine.concurrency import FlowSlots, SlotLedger
from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import EventSink, FanOut
from runner.git.files import CheckoutFiles
from runner.model import Flow
from runner.ports import FlowLookup
from runner.ports.executor import Executors
from runner.ports.task import RunSource
from runner.secrets import Secrets

# never visible to an untrusted run's expressions or secret(): server configuration and secrets
UNTRUSTED_HIDDEN_PREFIXES = ("ENV_", "SECRET_")


def user_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where runs outside a server keep their data (the KV store): $GITFLOWS_DATA, else
    $XDG_DATA_HOME/gitflows (~/.local/share/gitflows). `flows run`, `flows ci` and bisect
    share it, so a value `kv.Set` stored in one is read by the others."""
    env = os.environ if environ is None else environ
    if env.get("GITFLOWS_DATA"):
        return Path(env["GITFLOWS_DATA"])
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gitflows"


@dataclass(frozen=True)
class RunRequest:
    """One run to build: what it runs, at which files, with what, for whom."""
    flow: Flow
    checkout: Path  # the files the run sees (namespace files): a work tree or a commit's export
    flows: FlowLookup | None = None  # where its subflows (and Flow triggers) are found
    inputs: Mapping[str, Any] = field(default_factory=dict)
    trigger: Mapping[str, Any] = field(default_factory=dict)  # `trigger.*`; none for a manual run
    execution_id: str | None = None
    labels: Mapping[str, str] | None = None
    reuse: Mapping[str, Any] | None = None  # a re-run: task id → outputs of the earlier run
    untrusted: bool = False
    scope: str = ""  # the repository: keeps two repositories' same flow ids apart (concurrency)
    sinks: tuple[EventSink, ...] = ()  # this run's own sinks: history, commit status, …
    source: RunSource | None = None  # repository, branch, commit; default: see run_source


@dataclass
class PreparedRun:
    """A run whose inputs were checked: execute() runs it to a terminal state."""
    request: RunRequest
    engine: Engine
    execution: Execution

    def execute(self, cancel: threading.Event | None = None) -> Execution:
        return self.engine.execute(self.execution, cancel=cancel, trigger=self.request.trigger)


@dataclass
class RunSession:
    """What every run of one face shares; `prepare`/`run` build each run the same way."""
    executors: Executors
    data_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    secrets: Secrets | None = None  # default: SECRET_* of environ
    sinks: Sequence[EventSink] = ()
    masks: frozenset[str] = frozenset()  # sensitive values of the face (tokens): masked always
    slots: SlotLedger = field(default_factory=FlowSlots)

    def __post_init__(self) -> None:
        if self.secrets is None:
            self.secrets = Secrets(self.environ)

    def prepare(self, request: RunRequest) -> PreparedRun:
        """Check the inputs and create the execution (UsageError on bad ones); nothing runs."""
        engine = self.engine(request)
        execution = engine.prepare(request.flow, request.inputs, execution_id=request.execution_id,
                                   labels=request.labels, reuse=request.reuse)
        execution.secrets.update(m for m in self.masks if m)
        return PreparedRun(request, engine, execution)

    def run(self, request: RunRequest, cancel: threading.Event | None = None) -> Execution:
        return self.prepare(request).execute(cancel)

    def engine(self, request: RunRequest) -> Engine:
        """The engine of one run, with the trust the request carries applied here only."""
        executors, environ, secrets = self.executors, dict(self.environ), self.secrets
        if request.untrusted:
            executors = replace(executors, untrusted=True)
            environ = {k: v for k, v in environ.items()
                       if not k.startswith(UNTRUSTED_HIDDEN_PREFIXES)}
            secrets = Secrets({})
        return Engine(
            executors, FanOut(*self.sinks, *request.sinks), environ=environ,
            namespace_files=CheckoutFiles(request.checkout), flows=request.flows,
            data_dir=self.data_dir, secrets=secrets, slots=self.slots, slot_scope=request.scope,
            source=cache(partial(run_source, request)))


def run_source(request: RunRequest) -> RunSource | None:
    """The repository, branch and commit of a run (artifacts): the request's scope and
    trigger, else, for a checkout that is a git work tree (`flows run`), its path, current
    branch and HEAD. Worked out only when a task asks: most runs never do."""
    if request.source is not None:
        return request.source
    trigger = request.trigger
    branch = next((str(trigger[k]) for k in ("branch", "tag", "head") if trigger.get(k)), None)
    commit = str(trigger["sha"]) if trigger.get("sha") else None
    repo = request.scope
    if (request.checkout / ".git").exists():
        from runner.git.repo import GitError, GitRepo

        git = GitRepo(request.checkout)
        repo = repo or str(request.checkout.resolve())
        branch = branch or git.current_branch()
        with contextlib.suppress(GitError):  # a repository without a commit yet
            commit = commit or git.resolve("HEAD")
    return RunSource(repo, branch, commit) if repo else None
