"""Generic webhooks: a plain git server's post-receive hook, a script, a test.

The body is a normalised event as `Event.as_dict()` writes it, for instance
`{"kind": "push", "repo": "team/app", "ref": "refs/heads/main", "before": "…", "after": "…"}`;
`provider` and `delivery_id` may be left out, and a push may leave out branch, tag,
created and deleted (derived from ref, before and after).

Signature: HMAC-SHA256 of the raw body as `X-Hub-Signature-256: sha256=<hex>` (GitHub's
convention) or `X-Signature-256: sha256=<hex>`. Delivery id: `Idempotency-Key`,
`X-Delivery-Id` or `X-Request-Id`, else a hash of the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.forges.api import Outcome, Request, StatusTarget
from runner.forges.base import PayloadError, clean_id, hmac_sha256_hex, lower, parse_payload, same, text
from runner.forges.event import Event, Ignored, event_from_dict, is_zero_sha, short_ref

SIGNATURES = ("x-hub-signature-256", "x-signature-256")
DELIVERY_HEADERS = ("idempotency-key", "x-delivery-id", "x-request-id")


class Generic:
    name: str = "generic"
    reports_status: bool = False  # a plain git server: nothing to report a status to
    status_states: dict[Outcome, str] = {}
    default_api = ""
    api_prefix = ""
    ci_variable = ""
    api_url_variables: tuple[str, ...] = ()
    token_variables: tuple[str, ...] = ()

    def status_request(self, target: StatusTarget, token: str, outcome: Outcome,
                       description: str) -> Request:
        raise ValueError("a plain git server has no commit-status API")
    stored_headers: tuple[str, ...] = ("x-event", "idempotency-key", "x-delivery-id", "x-request-id",
                      "content-type", "user-agent")

    def matches(self, headers: Mapping[str, str]) -> bool:
        return False  # only ever chosen by its route, never guessed

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes | None, *,
               allow_unsigned: bool = False) -> bool:
        if not secret:
            return allow_unsigned
        h = lower(headers)
        given = [h[name] for name in SIGNATURES if name in h]
        expected = "sha256=" + hmac_sha256_hex(secret, body)
        results = [same(value, expected) for value in given]
        return bool(results) and all(results)

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        h = lower(headers)
        return clean_id(next((h[n] for n in DELIVERY_HEADERS if h.get(n, "").strip()), None), body)

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower(headers).get("x-event", "").strip() or "generic"

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        return text(payload, "repo")

    def normalise(self, headers: Mapping[str, str], body: bytes) -> Event | Ignored:
        name = self.event_name(headers)
        try:
            payload = parse_payload(headers, body)
        except PayloadError as err:
            return Ignored(str(err), name)
        data: dict[str, Any] = {**payload, "provider": self.name,
                                "delivery_id": self.delivery_id(headers, body)}
        if data.get("kind") == "push":
            _derive_push_fields(data)
        try:
            return event_from_dict(data)
        except ValueError as err:
            return Ignored(f"not a gitflows event: {err}", name)


PROVIDER = Generic()


def _derive_push_fields(data: dict[str, Any]) -> None:
    ref, before, after = data.get("ref"), data.get("before"), data.get("after")
    if isinstance(ref, str):
        branch, tag = short_ref(ref)
        data.setdefault("branch", branch)
        data.setdefault("tag", tag)
    if isinstance(before, str):
        data.setdefault("created", is_zero_sha(before))
    if isinstance(after, str):
        data.setdefault("deleted", is_zero_sha(after))
