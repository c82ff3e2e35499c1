"""Gitea and Forgejo webhooks.

Signature: `X-Gitea-Signature` (Forgejo also `X-Forgejo-Signature`): bare hex HMAC-SHA256 of
the JSON payload with the webhook secret. Gitea signs the JSON even when it posts it as a
`payload=` form field, so a form body is checked against its decoded payload as well.
Every signature header that is present must match, and at least one must be.

Gitea also sends `X-GitHub-*`, `X-Gogs-*` and `X-Hub-Signature(-256)` headers for
compatibility: detection must look for the Gitea/Forgejo headers before the GitHub ones,
and only the Gitea/Forgejo signature counts here.

Payloads copy GitHub's shape; differences handled: no created/deleted/forced on pushes
(derived from the zero sha), pusher `login`, pull request action `synchronized`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.forges.api import Outcome, Request, StatusTarget
from runner.forges.base import (
    PayloadError,
    clean_id,
    form_payload,
    hmac_sha256_hex,
    lower,
    parse_payload,
    same,
    text,
)
from runner.forges.event import SYNCHRONIZE, Event, Ignored
from runner.forges.github import pull_request_event, push_event, status_body, statuses_url

SIGNATURES = ("x-forgejo-signature", "x-gitea-signature")
_ACTIONS = {"synchronized": SYNCHRONIZE}
STATUS_STATES: dict[Outcome, str] = {
    Outcome.PENDING: "pending", Outcome.RUNNING: "pending", Outcome.SUCCESS: "success",
    Outcome.WARNING: "warning", Outcome.FAILURE: "failure", Outcome.CANCELLED: "error",
    Outcome.SKIPPED: "success"}


class Gitea:
    name: str = "gitea"
    reports_status: bool = True
    status_states = STATUS_STATES
    default_api = ""  # no public default: the server's URL
    api_prefix = "/api/v1"
    ci_variable = "GITEA_ACTIONS"
    api_url_variables: tuple[str, ...] = ("GITHUB_API_URL", "GITEA_API_URL")
    token_variables: tuple[str, ...] = ("GITEA_TOKEN", "GITHUB_TOKEN")

    def status_request(self, target: StatusTarget, token: str, outcome: Outcome,
                       description: str) -> Request:
        return Request("POST", statuses_url(target),
                       status_body(target, self.status_states[outcome], description),
                       {"Authorization": f"token {token}"})
    stored_headers: tuple[str, ...] = ("x-gitea-event", "x-gitea-event-type", "x-gitea-delivery",
                      "x-forgejo-event", "x-forgejo-event-type", "x-forgejo-delivery",
                      "content-type", "user-agent")

    def matches(self, headers: Mapping[str, str]) -> bool:
        h = lower(headers)
        return any(f"x-{vendor}-{what}" in h for vendor in ("forgejo", "gitea")
                   for what in ("event", "signature", "delivery"))

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes | None, *,
               allow_unsigned: bool = False) -> bool:
        if not secret:
            return allow_unsigned
        h = lower(headers)
        given = [h[name] for name in SIGNATURES if name in h]
        if not given:
            return False
        signed = [hmac_sha256_hex(secret, body)]
        if body[:8] == b"payload=":
            payload = form_payload(body)
            if payload is not None:
                signed.append(hmac_sha256_hex(secret, payload))
        # Evaluate every comparison (no short cut), then require each header to match one.
        results = [[same(value, expected) for expected in signed] for value in given]
        return all(any(row) for row in results)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        h = lower(headers)
        return clean_id(h.get("x-forgejo-delivery") or h.get("x-gitea-delivery"), body)

    def event_name(self, headers: Mapping[str, str]) -> str:
        h = lower(headers)
        return (h.get("x-forgejo-event") or h.get("x-gitea-event") or "").strip()

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return text(payload, "repository", "full_name")

    def normalise(self, headers: Mapping[str, str], body: bytes) -> Event | Ignored:
        name = self.event_name(headers)
        if not name:
            return Ignored("no X-Gitea-Event header")
        if name not in ("push", "pull_request"):
            return Ignored(f"Gitea event '{name}' is not handled", name)
        try:
            payload = parse_payload(headers, body)
        except PayloadError as err:
            return Ignored(str(err), name)
        delivery = self.delivery_id(headers, body)
        if name == "push":
            return push_event(self.name, delivery, payload, name)
        raw = (text(payload, "action") or "").lower()
        return pull_request_event(self.name, delivery, payload, _ACTIONS.get(raw, raw), name)


PROVIDER = Gitea()
