"""Gitea and GitLab commit-status stand-ins: record every request and check its shape
(endpoint, token header, state names, field types) as the forges document them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.standins.server import Answer, StandIn

_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field_errors(body: Any, required: dict[str, set[str] | None],
                  optional: tuple[str, ...], limits: dict[str, int]) -> list[str]:
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    errors = []
    for name, allowed in required.items():
        value = body.get(name)
        if not isinstance(value, str) or not value:
            errors.append(f"{name} is missing or not a string")
        elif allowed is not None and value not in allowed:
            errors.append(f"{name} {value!r} is not one of {sorted(allowed)}")
    for name in optional:
        if name in body and not isinstance(body[name], str):
            errors.append(f"{name} is not a string")
    for name, limit in limits.items():
        if isinstance(body.get(name), str) and len(body[name]) > limit:
            errors.append(f"{name} is longer than {limit} characters")
    unknown = set(body) - set(required) - set(optional)
    if unknown:
        errors.append(f"unknown fields {sorted(unknown)}")
    return errors


class GiteaStandIn(StandIn):
    """POST /api/v1/repos/{owner}/{repo}/statuses/{sha}, `Authorization: token …`."""

    STATES = {"pending", "success", "error", "failure", "warning"}
    ROUTE = re.compile(r"^/api/v1/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/statuses/(?P<sha>[^/]+)$")

    def __init__(self, token: str) -> None:
        self.token = token
        self.statuses: list[dict[str, Any]] = []
        super().__init__()

    def check(self, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[list[str], str | None, dict[str, str]]:
        found = self.ROUTE.match(path)
        if method != "POST" or found is None:
            return [f"Gitea has no {method} {path} here"], None, {}
        errors = _field_errors(body, {"state": self.STATES, "context": None},
                               ("description", "target_url"), {"description": 255})
        if not _SHA.match(found["sha"]):
            errors.append(f"sha {found['sha']!r} is not a commit id")
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("authorization") != f"token {self.token}":
            errors.append("auth: Authorization is not 'token <the token>'")
        return errors, "repoCreateStatus", found.groupdict()

    def respond(self, method: str, operation: str, params: dict[str, str], body: Any) -> Answer:
        with self.lock:
            status = {"id": len(self.statuses) + 1, "status": body["state"], "sha": params["sha"],
                      "context": body["context"], "description": body.get("description", ""),
                      "target_url": body.get("target_url", ""), "created_at": _now()}
            self.statuses.append(status)
        return Answer(201, status)


class GitLabStandIn(StandIn):
    """POST /api/v4/projects/{url-encoded path}/statuses/{sha}, `PRIVATE-TOKEN: …`.
    Like GitLab, it refuses to post the state a status already has (400)."""

    STATES = {"pending", "running", "success", "failed", "canceled", "skipped"}
    ROUTE = re.compile(r"^/api/v4/projects/(?P<id>[^/]+)/statuses/(?P<sha>[^/]+)$")

    def __init__(self, token: str) -> None:
        self.token = token
        self.statuses: list[dict[str, Any]] = []
        super().__init__()

    def check(self, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[list[str], str | None, dict[str, str]]:
        found = self.ROUTE.match(path)
        if method != "POST" or found is None:
            return [f"GitLab has no {method} {path} here (is the project path URL-encoded?)"], \
                None, {}
        errors = _field_errors(body, {"state": self.STATES}, (
            "name", "context", "description", "target_url", "ref", "coverage", "pipeline_id"), {})
        if not _SHA.match(found["sha"]):
            errors.append(f"sha {found['sha']!r} is not a commit id")
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("private-token") != self.token:
            errors.append("auth: PRIVATE-TOKEN is not the token")
        return errors, "commit_statuses", found.groupdict()

    def respond(self, method: str, operation: str, params: dict[str, str], body: Any) -> Answer:
        name = body.get("name") or body.get("context") or "default"
        with self.lock:
            last = next((s for s in reversed(self.statuses)
                         if s["sha"] == params["sha"] and s["name"] == name), None)
            if last is not None and last["status"] == body["state"]:
                return Answer(400, {"message": f"Cannot transition status via :{body['state']} "
                                               f"from :{last['status']}"})
            status = {"id": len(self.statuses) + 1, "sha": params["sha"], "project": params["id"],
                      "status": body["state"], "name": name,
                      "description": body.get("description"),
                      "target_url": body.get("target_url"), "created_at": _now()}
            self.statuses.append(status)
        return Answer(201, status)


class WebhookStandIn(StandIn):
    """Any JSON POST (failure alerts, Slack incoming webhooks): recorded and answered 200."""

    def check(self, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[list[str], str | None, dict[str, str]]:
        errors = [] if method == "POST" else [f"{method}: webhooks take POST"]
        if not isinstance(body, dict):
            errors.append("the body is not a JSON object")
        return errors, "webhook", {}

    def respond(self, method: str, operation: str, params: dict[str, str], body: Any) -> Answer:
        return Answer(200, {"ok": True})
