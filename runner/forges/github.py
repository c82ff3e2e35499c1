"""GitHub (and GitHub Enterprise) webhooks.

Signature: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body with the
webhook secret. Delivery id: `X-GitHub-Delivery`. Event: `X-GitHub-Event`.
Handled events: push, pull_request, ping. The payload helpers here are shared with
Gitea, whose payloads copy GitHub's shape.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from runner.forges.api import Outcome, Request, StatusTarget, repo_path
from runner.forges.base import (
    PayloadError,
    changed_paths,
    clean_id,
    dig,
    first_text,
    flag,
    hmac_sha256_hex,
    integer,
    lower,
    parse_payload,
    same,
    same_repo,
    text,
)
from runner.forges.event import (
    Event,
    Ignored,
    Ping,
    PullRequest,
    Push,
    is_zero_sha,
    short_ref,
)
from runner.forges.github_app import GITHUB_API, github_headers

# Commit status states (GitHub has no warning: a WARNING run is a success).
STATUS_STATES: dict[Outcome, str] = {
    Outcome.PENDING: "pending", Outcome.RUNNING: "pending", Outcome.SUCCESS: "success",
    Outcome.WARNING: "success", Outcome.FAILURE: "failure", Outcome.CANCELLED: "error",
    Outcome.SKIPPED: "success"}


def status_body(target: StatusTarget, state: str, description: str) -> dict[str, Any]:
    """The body GitHub and Gitea both take for POST /repos/{owner}/{repo}/statuses/{sha}."""
    body: dict[str, Any] = {"state": state, "description": description, "context": target.context}
    if target.target_url:
        body["target_url"] = target.target_url
    return body


def statuses_url(target: StatusTarget) -> str:
    return f"{target.base}/repos/{repo_path(target.repo)}/statuses/{urllib.parse.quote(target.sha, safe='')}"


class GitHub:
    name: str = "github"
    reports_status: bool = True
    status_states = STATUS_STATES
    default_api = GITHUB_API
    api_prefix = ""
    ci_variable = "GITHUB_ACTIONS"  # "true" inside its CI
    api_url_variables: tuple[str, ...] = ("GITHUB_API_URL",)
    token_variables: tuple[str, ...] = ("GITHUB_TOKEN",)

    def status_request(self, target: StatusTarget, token: str, outcome: Outcome,
                       description: str) -> Request:
        return Request("POST", statuses_url(target),
                       status_body(target, self.status_states[outcome], description),
                       github_headers(token))
    stored_headers: tuple[str, ...] = ("x-github-event", "x-github-delivery", "x-github-hook-id",
                      "x-github-hook-installation-target-type", "x-github-hook-installation-target-id",
                      "x-github-enterprise-host", "x-github-enterprise-version",
                      "content-type", "user-agent")

    def matches(self, headers: Mapping[str, str]) -> bool:
        return "x-github-event" in lower(headers)

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes | None, *,
               allow_unsigned: bool = False) -> bool:
        if not secret:
            return allow_unsigned
        given = lower(headers).get("x-hub-signature-256")
        if given is None:
            return False
        return same(given, "sha256=" + hmac_sha256_hex(secret, body))

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        return clean_id(lower(headers).get("x-github-delivery"), body)

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower(headers).get("x-github-event", "").strip()

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return text(payload, "repository", "full_name")

    def normalise(self, headers: Mapping[str, str], body: bytes) -> Event | Ignored:
        name = self.event_name(headers)
        if not name:
            return Ignored("no X-GitHub-Event header")
        if name not in ("push", "pull_request", "ping"):
            return Ignored(f"GitHub event '{name}' is not handled", name)
        try:
            payload = parse_payload(headers, body)
        except PayloadError as err:
            return Ignored(str(err), name)
        delivery = self.delivery_id(headers, body)
        if name == "push":
            return push_event(self.name, delivery, payload, name)
        if name == "ping":
            return Ping(self.name, delivery, self.repo_name(payload), integer(payload, "hook_id"),
                        text(payload, "zen") or "")
        action = (text(payload, "action") or "").lower()
        return pull_request_event(self.name, delivery, payload, action, name)


PROVIDER = GitHub()


def push_event(provider: str, delivery: str, payload: dict[str, Any], name: str) -> Push | Ignored:
    """A push in GitHub's shape (Gitea's too: it lacks created/deleted/forced, derived here)."""
    repo = text(payload, "repository", "full_name")
    ref = text(payload, "ref")
    before = text(payload, "before")
    after = text(payload, "after")
    if not repo or not ref or before is None or after is None:
        return Ignored("push payload without repository.full_name, ref, before or after", name)
    branch, tag = short_ref(ref)
    head = dig(payload, "head_commit")
    return Push(
        provider, delivery, repo, ref, branch, tag,
        created=flag(payload, "created") or is_zero_sha(before),
        deleted=flag(payload, "deleted") or is_zero_sha(after),
        before=before, after=after,
        pusher=first_text(payload, ("pusher", "login"), ("pusher", "username"), ("pusher", "name")),
        head_commit_message=text(head, "message") if isinstance(head, dict) else None,
        changed_paths=changed_paths(payload.get("commits")),
        forced=flag(payload, "forced"),
    )


def pull_request_event(provider: str, delivery: str, payload: dict[str, Any], action: str,
                       name: str) -> PullRequest | Ignored:
    """A pull request in GitHub's shape, `action` already mapped to the normalised names."""
    pr = payload.get("pull_request")
    if not isinstance(pr, dict):
        return Ignored("pull_request payload without a pull_request object", name)
    base_repo = text(pr, "base", "repo", "full_name")
    repo = text(payload, "repository", "full_name") or base_repo
    number = integer(payload, "number")
    if number is None:
        number = integer(pr, "number")
    base_ref = text(pr, "base", "ref")
    head_ref = text(pr, "head", "ref")
    head_sha = text(pr, "head", "sha")
    if not repo or number is None or not action or not base_ref or head_ref is None or not head_sha:
        return Ignored("pull_request payload without repository, number, action, base.ref "
                       "or head.ref/sha", name)
    head_repo = text(pr, "head", "repo", "full_name")
    return PullRequest(
        provider, delivery, repo, action, number,
        base_ref=base_ref, base_sha=text(pr, "base", "sha"),
        head_ref=head_ref, head_sha=head_sha, head_repo=head_repo,
        fork=not same_repo(head_repo, base_repo or repo),
        merged=flag(pr, "merged"),
        title=text(pr, "title") or "",
        author=first_text(pr, ("user", "login"), ("user", "username")),
        sender=first_text(payload, ("sender", "login"), ("sender", "username")),
        draft=flag(pr, "draft"),
    )
