"""GitLab webhooks (project, group and system hooks).

Authentication: `X-Gitlab-Token` carries the secret token itself (no HMAC), compared in
constant time. Event: `X-Gitlab-Event` ("Push Hook", "Tag Push Hook", "Merge Request Hook",
"System Hook"); the payload's `object_kind` decides.

Delivery id, in order of preference:
- `Idempotency-Key` (GitLab 17.4+): one per hook and event, the same on every retry;
- `X-Gitlab-Event-UUID`, else `X-Gitlab-Webhook-UUID`, joined with a digest of the body:
  the event UUID is shared by every delivery one GitLab request causes (a push of two
  branches sends two Push Hooks with the same UUID), so the UUID alone would drop the second;
- otherwise a hash of the body.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

from runner.forges.api import Outcome, Request, StatusTarget
from runner.forges.base import (
    PayloadError,
    changed_paths,
    clean_id,
    dig,
    first_text,
    flag,
    integer,
    lower,
    parse_payload,
    same_repo,
    same_secret,
    text,
)
from runner.forges.event import (
    CLOSED,
    EDITED,
    OPENED,
    REOPENED,
    SYNCHRONIZE,
    Event,
    Ignored,
    PullRequest,
    Push,
    is_zero_sha,
    short_ref,
)

_ACTIONS = {"open": OPENED, "reopen": REOPENED, "close": CLOSED, "merge": CLOSED}
_KINDS_BY_HEADER = {"push hook": "push", "tag push hook": "tag_push",
                    "merge request hook": "merge_request"}

STATUS_STATES: dict[Outcome, str] = {
    Outcome.PENDING: "pending", Outcome.RUNNING: "running", Outcome.SUCCESS: "success",
    Outcome.WARNING: "success", Outcome.FAILURE: "failed", Outcome.CANCELLED: "canceled",
    Outcome.SKIPPED: "success"}


class GitLab:
    name: str = "gitlab"
    reports_status: bool = True
    status_states = STATUS_STATES
    default_api = ""  # no public default: the server's URL
    api_prefix = "/api/v4"
    ci_variable = "GITLAB_CI"
    api_url_variables: tuple[str, ...] = ("CI_API_V4_URL",)
    token_variables: tuple[str, ...] = ("GITLAB_TOKEN",)

    def status_request(self, target: StatusTarget, token: str, outcome: Outcome,
                       description: str) -> Request:
        project = urllib.parse.quote(target.repo, safe="")
        sha = urllib.parse.quote(target.sha, safe="")
        body: dict[str, Any] = {"state": self.status_states[outcome], "name": target.context,
                                "description": description}
        if target.target_url:
            body["target_url"] = target.target_url
        return Request("POST", f"{target.base}/projects/{project}/statuses/{sha}", body,
                       {"PRIVATE-TOKEN": token})
    stored_headers: tuple[str, ...] = ("x-gitlab-event", "x-gitlab-event-uuid", "x-gitlab-webhook-uuid",
                      "idempotency-key", "x-gitlab-instance", "content-type", "user-agent")

    def matches(self, headers: Mapping[str, str]) -> bool:
        h = lower(headers)
        return "x-gitlab-event" in h or "x-gitlab-token" in h

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes | None, *,
               allow_unsigned: bool = False) -> bool:
        if not secret:
            return allow_unsigned
        given = lower(headers).get("x-gitlab-token")
        return given is not None and same_secret(given, secret)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        h = lower(headers)
        key = h.get("idempotency-key", "").strip()
        if key:
            return clean_id(key, body)
        uuid = (h.get("x-gitlab-event-uuid") or h.get("x-gitlab-webhook-uuid") or "").strip()
        if uuid:
            return clean_id(f"{uuid}:{hashlib.sha256(body).hexdigest()[:16]}", body)
        return clean_id(None, body)

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower(headers).get("x-gitlab-event", "").strip()

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return (text(payload, "project", "path_with_namespace")
                or text(payload, "object_attributes", "target", "path_with_namespace"))

    def normalise(self, headers: Mapping[str, str], body: bytes) -> Event | Ignored:
        name = self.event_name(headers)
        try:
            payload = parse_payload(headers, body)
        except PayloadError as err:
            return Ignored(str(err), name)
        kind = text(payload, "object_kind") or _KINDS_BY_HEADER.get(name.lower(), "")
        if kind not in ("push", "tag_push", "merge_request"):
            return Ignored(f"GitLab event '{kind or name or 'unknown'}' is not handled", name)
        delivery = self.delivery_id(headers, body)
        repo = self.repo_name(payload)
        if not repo:
            return Ignored("GitLab payload without project.path_with_namespace", name)
        if kind == "merge_request":
            return _merge_request(self.name, delivery, repo, payload, name)
        return _push(self.name, delivery, repo, payload, name)


PROVIDER = GitLab()


def _push(provider: str, delivery: str, repo: str, payload: dict[str, Any], name: str) -> Push | Ignored:
    ref = text(payload, "ref")
    before = text(payload, "before")
    after = text(payload, "after")
    if not ref or before is None or after is None:
        return Ignored("GitLab push without ref, before or after", name)
    branch, tag = short_ref(ref)
    commits = payload.get("commits")
    head_sha = text(payload, "checkout_sha") or after
    message = None
    if isinstance(commits, list):
        for commit in commits:
            if text(commit, "id") == head_sha:
                message = text(commit, "message")
    return Push(
        provider, delivery, repo, ref, branch, tag,
        created=is_zero_sha(before), deleted=is_zero_sha(after),
        before=before, after=after,
        pusher=first_text(payload, ("user_username",), ("user_name",)),
        head_commit_message=message,
        changed_paths=changed_paths(commits),
    )


def _merge_request(provider: str, delivery: str, repo: str, payload: dict[str, Any],
                   name: str) -> PullRequest | Ignored:
    attrs = payload.get("object_attributes")
    if not isinstance(attrs, dict):
        return Ignored("GitLab merge request without object_attributes", name)
    raw = (text(attrs, "action") or "").lower()
    # an `update` carries `oldrev` only when it brought new commits
    updated = SYNCHRONIZE if text(attrs, "oldrev") else EDITED
    action = updated if raw == "update" else _ACTIONS.get(raw, raw)
    number = integer(attrs, "iid")
    base_ref = text(attrs, "target_branch")
    head_ref = text(attrs, "source_branch")
    head_sha = text(attrs, "last_commit", "id")
    if number is None or not action or not base_ref or not head_ref or not head_sha:
        return Ignored("GitLab merge request without iid, action, target_branch, source_branch "
                       "or last_commit.id", name)
    head_repo = text(attrs, "source", "path_with_namespace")
    source_id = integer(attrs, "source_project_id")
    target_id = integer(attrs, "target_project_id")
    if dig(attrs, "source") is None and "source" in attrs:
        fork = True  # the source project was deleted
    elif source_id is not None and target_id is not None:
        fork = source_id != target_id
    else:
        fork = not same_repo(head_repo, text(attrs, "target", "path_with_namespace") or repo)
    actor = first_text(payload, ("user", "username"), ("user", "name"))
    return PullRequest(
        provider, delivery, repo, action, number,
        base_ref=base_ref, base_sha=None,
        head_ref=head_ref, head_sha=head_sha, head_repo=head_repo, fork=fork,
        merged=raw == "merge" or text(attrs, "state") == "merged",
        title=text(attrs, "title") or "",
        # merge request hooks name the author by id only; on `open` the actor is the author
        author=actor if raw == "open" else None,
        sender=actor,
        draft=flag(attrs, "draft") or flag(attrs, "work_in_progress"),
    )
