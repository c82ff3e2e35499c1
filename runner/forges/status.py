"""Commit statuses and GitHub check runs: a run's state becomes an Outcome, and the forge's
module (runner/forges/<forge>.py) spells it and builds the request. Request building is
pure (tested without a network); `send_status` and `CheckRuns` send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner import forges
from runner.forges.api import Outcome, Request, StatusTarget, outcome_of, repo_path
from runner.forges.github_app import github_headers
from runner.http import Response, Transport

__all__ = ["CONCLUSIONS", "PROVIDERS", "STATUS_STATES", "CheckRuns", "Outcome", "Request", "Target",
           "outcome_of", "send", "send_status", "status_request"]

PROVIDERS = forges.NAMES  # the forges with a commit-status API


# Commit status states per forge, as each forge module spells them.
STATUS_STATES: dict[str, Mapping[Outcome, str]] = {
    name: forge.status_states for name, forge in forges.PROVIDERS.items() if forge.reports_status}

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
        forge = _forge(self.provider)
        root = (self.api_url or forge.default_api).rstrip("/")
        suffix = forge.api_prefix
        return root if not suffix or root.endswith(suffix) else root + suffix


def _forge(name: str) -> forges.Provider:
    forge = forges.get(name)
    if forge is None or not forge.reports_status:
        raise ValueError(f"unknown provider {name!r} (known: {', '.join(forges.NAMES)})")
    return forge


def status_request(target: Target, token: str, outcome: Outcome, description: str) -> Request:
    where = StatusTarget(target.base, target.repo, target.sha, target.context, target.target_url)
    return _forge(target.provider).status_request(where, token, outcome, description)


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
        self.url = f"{target.base}/repos/{repo_path(target.repo)}/check-runs"

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
