"""The event `flows ci` acts on: options and CI variables → a `Context`.

Inside GitHub Actions (GITHUB_ACTIONS=true; Gitea Actions sets the same variables) missing
options come from GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_SHA, GITHUB_REPOSITORY and
GITHUB_WORKSPACE. Elsewhere the event is `--event push|pull_request --payload FILE`, a payload in
GitHub's shape (a small generic one is enough), normalised by runner/forges/github.py.
Changed paths and the head commit message (for `[skip ci]`) come from git (runner/git/diff.py),
as the server computes them; a shallow clone without the `before` commit leaves the paths
unknown, and path filters then pass, as on GitHub.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import forges
from runner.diagnostics import Diagnostic
from runner.errors import GitflowsError, UsageError
from runner.events import LogLine, State
from runner.forges import github
from runner.forges.event import Ignored, Ping, PullRequest, Push
from runner.git.diff import changed_paths, head_message, pull_request_paths
from runner.git.files import find_root
from runner.git.repo import GitRepo
from runner.reporters.commit_status import StatusReporter
from runner.triggers.git import GitEvent
from runner.yamlsource import YamlSyntaxError, load, read_source

PR_EVENTS = ("pull_request", "pull_request_target")
MANUAL_EVENTS = ("workflow_dispatch", "manual")
FORGES = forges.NAMES
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class CiOptions:
    event: str | None = None
    payload: Path | None = None
    repo: Path | None = None
    flows_dir: Path | None = None
    flows: tuple[str, ...] = ()  # namespace.id filters (manual events: the flows to run)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    summary: Path | None = None
    outputs: Path | None = None
    push_history: bool = False
    provider: str | None = None  # status API: github | gitea | gitlab (default from the CI)
    jobs: int = 1


@dataclass(frozen=True)
class Context:
    """The resolved event: what commit, which flows directory, how to report and record."""

    event: str
    root: Path
    flows_dir: Path
    sha: str  # the commit statuses and history are for (a pull request's head)
    repo: str
    ref: str | None  # recorded in history: the branch, the tag, or refs/pull/N/head
    trigger: dict[str, Any]  # the flows' `trigger.*` variables
    git_event: GitEvent | None  # None: a manual run of named flows
    untrusted: bool
    provider: str
    api_url: str | None
    token: str | None
    target_url: str | None
    runner: str


def github_env(environ: Mapping[str, str], name: str) -> str | None:
    """A GitHub Actions variable, read only inside Actions."""
    return (environ.get(name) or None) if environ.get("GITHUB_ACTIONS") == "true" else None


def _default_provider(environ: Mapping[str, str]) -> str:
    """The forge whose CI this is (Gitea's Actions also set GITHUB_ACTIONS: asked first)."""
    for forge in forges.DETECTION_ORDER:
        if forge.reports_status and forge.ci_variable and environ.get(forge.ci_variable) == "true":
            return forge.name
    return forges.DEFAULT


def _first(environ: Mapping[str, str], names: Sequence[str]) -> str | None:
    return next((environ[name] for name in names if environ.get(name)), None)


def _forge(provider: str, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(status API URL, token) for the provider, from the CI's variables."""
    forge = forges.get(provider)
    assert forge is not None
    api = environ.get("FLOWS_API_URL") or _first(environ, forge.api_url_variables) \
        or forge.default_api or None
    token = environ.get("FLOWS_TOKEN") or _first(environ, forge.token_variables)
    return api, token


def _target_url(environ: Mapping[str, str]) -> str | None:
    """Where a commit status links to: the CI job."""
    if environ.get("FLOWS_TARGET_URL"):
        return environ["FLOWS_TARGET_URL"]
    server, repo, run = (environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
                                                   "GITHUB_RUN_ID"))
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return environ.get("CI_JOB_URL") or environ.get("BUILD_URL") or None


def _read_event(name: str, payload: Path) -> tuple[Push | PullRequest, str | None]:
    """The normalised event and the repository's default branch, from a payload file."""
    try:
        body = payload.read_bytes()
    except OSError as err:
        raise UsageError(f"--payload {payload}: {err.strerror}") from None
    headers = {"X-GitHub-Event": "pull_request" if name in PR_EVENTS else name,
               "X-GitHub-Delivery": f"flows-ci-{uuid.uuid4()}", "Content-Type": "application/json"}
    event = github.PROVIDER.normalise(headers, body)
    if isinstance(event, Ignored | Ping):
        why = event.reason if isinstance(event, Ignored) else "a ping"
        raise UsageError(f"--payload {payload}: not a usable {name} event ({why})")
    try:
        default = json.loads(body)["repository"]["default_branch"]
    except (ValueError, KeyError, TypeError):
        default = None
    return event, default if isinstance(default, str) and default else None


def resolve(options: CiOptions, environ: Mapping[str, str]) -> Context:
    """Options and CI variables → the event to act on. UsageError when they do not add up."""
    event = options.event or github_env(environ, "GITHUB_EVENT_NAME")
    if not event:
        raise UsageError("give --event NAME (push, pull_request, workflow_dispatch) and --payload "
                         "FILE, or run inside GitHub Actions (GITHUB_ACTIONS=true)")
    start = options.repo or Path(github_env(environ, "GITHUB_WORKSPACE") or ".")
    if not start.is_dir():
        raise UsageError(f"--repo {start}: no such directory")
    root = find_root(start)
    git = GitRepo(root)
    try:
        head = git.resolve("HEAD")
    except GitflowsError:
        raise UsageError(f"flows ci needs a git repository with a commit ({root})") from None
    flows_dir = (options.flows_dir or root / ".flows").resolve()
    if not flows_dir.is_dir():
        raise UsageError(f"{flows_dir}: no flows directory")
    provider = options.provider or _default_provider(environ)
    if provider not in FORGES:
        raise UsageError(f"--provider must be one of {', '.join(FORGES)}")
    api_url, token = _forge(provider, environ)
    base: dict[str, Any] = dict(
        event=event, root=root, flows_dir=flows_dir, provider=provider, api_url=api_url,
        token=token, target_url=_target_url(environ),
        runner=f"flows ci@{environ.get('RUNNER_NAME') or socket.gethostname()}")
    if event in MANUAL_EVENTS or (options.flows and event not in ("push", *PR_EVENTS)):
        sha = github_env(environ, "GITHUB_SHA") or head
        branch = git.current_branch() or github_env(environ, "GITHUB_REF_NAME")
        repo = github_env(environ, "GITHUB_REPOSITORY") or environ.get("CI_PROJECT_PATH") \
            or root.name
        return Context(**base, sha=sha, repo=repo, ref=branch, git_event=None, untrusted=False,
                       trigger={"type": "manual", "sha": sha, "branch": branch})
    if event not in ("push", *PR_EVENTS):
        raise UsageError(f"event '{event}' starts no git trigger (push and pull_request do); "
                         "name the flows to run with --flow NAMESPACE.ID")
    path = github_env(environ, "GITHUB_EVENT_PATH")
    payload = options.payload or (Path(path) if path else None)
    if payload is None:
        raise UsageError(f"--event {event} needs --payload FILE (the event's JSON payload)")
    found, default = _read_event(event, payload)
    if isinstance(found, Push):
        return _push_context(base, git, found, default)
    return _pull_request_context(base, git, found, default)


def _push_context(base: dict[str, Any], git: GitRepo, found: Push, default: str | None) -> Context:
    if found.deleted:
        raise UsageError(f"the push deletes {found.ref}: there is nothing to run")
    message = head_message(git, found.after, found.head_commit_message)
    paths = changed_paths(git, found.before, found.after, default_branch=default)
    git_event = GitEvent.for_push(found.ref, repo=found.repo, changed_paths=paths,
                                  head_commit_message=message, default_branch=default)
    trigger = {"type": "push", "repo": found.repo, "ref": found.ref, "branch": found.branch,
               "tag": found.tag, "before": found.before, "after": found.after,
               "sha": found.after, "pusher": found.pusher}
    return Context(**base, sha=found.after, repo=found.repo, ref=found.branch or found.tag,
                   git_event=git_event, untrusted=False, trigger=trigger)


def _pull_request_context(base: dict[str, Any], git: GitRepo, found: PullRequest,
                          default: str | None) -> Context:
    paths = pull_request_paths(git, found.base_sha or found.base_ref, found.head_sha)
    git_event = GitEvent.from_pull_request(found, paths, head_message(git, found.head_sha),
                                           default)
    trigger = {"type": "pull_request", "repo": found.repo, "number": found.number,
               "action": found.action, "base": found.base_ref, "head": found.head_ref,
               "sha": found.head_sha, "fork": found.fork}
    return Context(**base, sha=found.head_sha, repo=found.repo,
                   ref=f"refs/pull/{found.number}/head", git_event=git_event,
                   untrusted=found.fork, trigger=trigger)


# -- invalid flow files: `flows ci` and the server report them alike ------------------------------

@dataclass(frozen=True)
class InvalidFlow:
    """A file of `.flows/` that does not parse or validate: it never runs, so it fails."""

    file: str  # relative to the repository root, as git names it
    name: str  # namespace.id when the file declares them, else the file path
    diagnostics: tuple[Diagnostic, ...]

    @property
    def first_error(self) -> str:
        errors = [d for d in self.diagnostics if d.is_error] or list(self.diagnostics)
        return errors[0].format() if errors else f"{self.file}: not a valid flow"


def invalid_flow(file: str, text: str | None, diagnostics: Sequence[Diagnostic]) -> InvalidFlow:
    """The invalid file, named by the flow it declares (so its status replaces that flow's);
    by its path when it declares no usable namespace and id."""
    name = file
    try:
        data = load(text, file).data if text is not None else None
    except YamlSyntaxError:
        data = None
    if isinstance(data, dict):
        namespace, flow_id = data.get("namespace"), data.get("id")
        if all(isinstance(v, str) and _NAME_PART.fullmatch(v) for v in (namespace, flow_id)):
            name = f"{namespace}.{flow_id}"
    return InvalidFlow(file, name, tuple(sorted(diagnostics)))


def report_invalid(reporter: StatusReporter, invalid: InvalidFlow) -> bool:
    """Post the failure status of an invalid flow, its first error as the description;
    False when it did not go out in time."""
    now = dt.datetime.now(dt.UTC)
    reporter.emit(LogLine("", None, None, 1, "ERROR", invalid.first_error, now))
    return reporter.close(State.FAILED)


def invalid_flows(root: Path, broken: Sequence[tuple[Path, Sequence[Diagnostic]]],
                  say: Callable[[str], None]) -> list[InvalidFlow]:
    """The invalid files, named as git names them (as the server reports them), each
    diagnostic printed as `file:line:col: severity code: message`."""
    found = []
    for path, diagnostics in broken:
        try:
            file = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:  # a --flows directory outside the repository
            file = str(path)
        try:
            text: str | None = read_source(path, errors="replace")
        except (OSError, YamlSyntaxError):
            text = None
        invalid = invalid_flow(file, text, [dataclasses.replace(d, file=file)
                                            if d.file == str(path) else d for d in diagnostics])
        for diagnostic in invalid.diagnostics:
            say(diagnostic.format())
        say(f"error: {file} is not a valid flow: {invalid.name} fails")
        found.append(invalid)
    return found
