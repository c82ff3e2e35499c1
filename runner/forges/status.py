"""The forges' commit-status and check-run endpoints: GitHub, Gitea, GitLab.

A run's state becomes an Outcome, and each forge spells it its own way. Request
building is pure (tested without a network); `send_status` and `CheckRuns` send.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runner.events import State
from runner.forges import NAMES
from runner.forges.github_app import GITHUB_API, github_headers
from runner.http import Response, Transport

PROVIDERS = NAMES  # the forges with a commit-status API


class Outcome(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


def outcome_of(state: State) -> Outcome:
    if state in (State.CREATED, State.QUEUED):
        return Outcome.PENDING
    if state in (State.SUCCESS,):
        return Outcome.SUCCESS
    if state is State.WARNING:
        return Outcome.WARNING
    if state in (State.KILLED, State.CANCELLED):
        return Outcome.CANCELLED
    if state is State.SKIPPED:
        return Outcome.SKIPPED
    if state.terminal or state is State.FAILED:
        return Outcome.FAILURE
    return Outcome.RUNNING  # RUNNING, PAUSED, KILLING, RETRYING, RESTARTED


# Commit status states per forge (GitHub: pending/success/failure/error).
STATUS_STATES: dict[str, dict[Outcome, str]] = {
    "github": {Outcome.PENDING: "pending", Outcome.RUNNING: "pending",
               Outcome.SUCCESS: "success", Outcome.WARNING: "success",
               Outcome.FAILURE: "failure", Outcome.CANCELLED: "error",
               Outcome.SKIPPED: "success"},
    "gitea": {Outcome.PENDING: "pending", Outcome.RUNNING: "pending",
              Outcome.SUCCESS: "success", Outcome.WARNING: "warning",
              Outcome.FAILURE: "failure", Outcome.CANCELLED: "error",
              Outcome.SKIPPED: "success"},
    "gitlab": {Outcome.PENDING: "pending", Outcome.RUNNING: "running",
               Outcome.SUCCESS: "success", Outcome.WARNING: "success",
               Outcome.FAILURE: "failed", Outcome.CANCELLED: "canceled",
               Outcome.SKIPPED: "success"},
}

# GitHub check-run conclusions (neutral passes branch protection, like success, but shows
# that the run had warnings).
CONCLUSIONS: dict[Outcome, str] = {
    Outcome.SUCCESS: "success", Outcome.WARNING: "neutral", Outcome.FAILURE: "failure",
    Outcome.CANCELLED: "cancelled", Outcome.SKIPPED: "skipped",
}


@dataclass(frozen=True)
class Target:
    """Where a run reports: one commit of one repository, under one context name."""

    provider: str  # github | gitea | gitlab
    api_url: str
    repo: str  # owner/name (GitLab: the project's path with namespace)
    sha: str
    context: str  # flows/<namespace>.<id>
    target_url: str | None = None

    @property
    def base(self) -> str:
        """The API root, accepting a configured URL with or without its API prefix."""
        root = (self.api_url or (GITHUB_API if self.provider == "github" else "")).rstrip("/")
        suffix = {"gitea": "/api/v1", "gitlab": "/api/v4"}.get(self.provider, "")
        return root if not suffix or root.endswith(suffix) else root + suffix


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def _repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    return f"{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"


def status_request(target: Target, token: str, outcome: Outcome, description: str) -> Request:
    state = STATUS_STATES[target.provider][outcome]
    sha = urllib.parse.quote(target.sha, safe="")
    if target.provider == "gitlab":
        project = urllib.parse.quote(target.repo, safe="")
        body: dict[str, Any] = {"state": state, "name": target.context, "description": description}
        if target.target_url:
            body["target_url"] = target.target_url
        return Request("POST", f"{target.base}/projects/{project}/statuses/{sha}", body,
                       {"PRIVATE-TOKEN": token})
    body = {"state": state, "description": description, "context": target.context}
    if target.target_url:
        body["target_url"] = target.target_url
    url = f"{target.base}/repos/{_repo_path(target.repo)}/statuses/{sha}"
    if target.provider == "gitea":
        return Request("POST", url, body, {"Authorization": f"token {token}"})
    return Request("POST", url, body, github_headers(token))


def send(transport: Transport, request: Request, token: str) -> Response:
    return transport.request(request.method, request.url, request.body,
                             headers=request.headers, secrets=(token,))


def send_status(transport: Transport, target: Target, token: str, outcome: Outcome,
                description: str) -> Response:
    return send(transport, status_request(target, token, outcome, description), token)


class CheckRuns:
    """GitHub check runs for one target (create, then update by id)."""

    def __init__(self, transport: Transport, target: Target) -> None:
        self.transport = transport
        self.target = target
        self.url = f"{target.base}/repos/{_repo_path(target.repo)}/check-runs"

    def create(self, token: str, body: dict[str, Any]) -> int:
        payload = {"name": self.target.context, "head_sha": self.target.sha, **body}
        if self.target.target_url:
            payload.setdefault("details_url", self.target.target_url)
        answer = send(self.transport, Request("POST", self.url, payload, github_headers(token)),
                      token)
        try:
            return int(answer.body["id"])
        except (TypeError, KeyError, ValueError):
            raise ValueError("the check run answer has no id") from None

    def update(self, token: str, check_run_id: int, body: dict[str, Any]) -> None:
        send(self.transport, Request("PATCH", f"{self.url}/{check_run_id}", body,
                                     github_headers(token)), token)
