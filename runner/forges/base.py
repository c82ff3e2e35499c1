"""What every provider shares: case-insensitive headers, constant-time checks, payload
parsing (JSON or `payload=` form bodies) and typed access into untrusted JSON.

Nothing here raises on hostile input except `parse_payload` (PayloadError, a ValueError).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs

from runner.forges.api import Outcome, Request, StatusTarget
from runner.forges.event import Event, Ignored

# Longest delivery id kept as sent; a longer one is replaced by its hash.
MAX_DELIVERY_ID = 200
FORM = "application/x-www-form-urlencoded"


class PayloadError(ValueError):
    """The body is not a JSON object (directly or as the `payload` form field)."""


class Provider(Protocol):
    """A webhook source. Framework-free: headers are any str→str mapping, body the raw bytes."""

    name: str
    # It has a commit-status API (`status.py` speaks it); a plain git server has none.
    reports_status: bool
    status_states: dict[Outcome, str]  # a run's outcome as its commit status API spells it
    default_api: str  # the API root when none is configured ("" for self-hosted only)
    api_prefix: str  # appended to a configured server URL that lacks it (/api/v4)
    ci_variable: str  # "true" inside the forge's own CI (GITLAB_CI): `flows ci` picks it
    api_url_variables: tuple[str, ...]  # where its CI names the API root
    token_variables: tuple[str, ...]  # where its CI puts a token for the status API
    # Headers kept with a delivery in the inbox (lower-case). Never a signature or token.
    stored_headers: tuple[str, ...]

    def matches(self, headers: Mapping[str, str]) -> bool:
        """The headers identify this provider (used by `providers.detect`)."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes | None, *,
               allow_unsigned: bool = False) -> bool:
        """True when the delivery is authentic. No secret (None or empty) refuses, unless the
        repository is explicitly configured as unsigned (`allow_unsigned=True`). Never raises."""
        ...

    def delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        """The id duplicates share; a hash of the body when the provider sent none."""
        ...

    def event_name(self, headers: Mapping[str, str]) -> str:
        """The provider's event name from its header, '' when absent."""
        ...

    def repo_name(self, payload: Mapping[str, Any]) -> str | None:
        """The repository full name the payload claims (to look its secret up before verifying)."""
        ...

    def normalise(self, headers: Mapping[str, str], body: bytes) -> Event | Ignored:
        """The normalised event, or Ignored(reason). Never raises."""
        ...

    def status_request(self, target: StatusTarget, token: str, outcome: Outcome,
                       description: str) -> Request:
        """The request that sets one commit status (pure: nothing is sent)."""
        ...


class Lowered(dict[str, str]):
    """Headers whose names are lower-case already: lower() hands them back as they are (a
    delivery's headers are looked at a dozen times on the way in). Read, never changed."""


def lower(headers: Mapping[str, str]) -> Lowered:
    """A dict with lower-case names (Flask's headers are case-insensitive, dicts are not)."""
    if isinstance(headers, Lowered):
        return headers
    out = Lowered()
    for key, value in headers.items():
        if isinstance(key, str) and isinstance(value, str):
            out[key.lower()] = value
    return out


def header_bytes(value: str) -> bytes:
    """The bytes a header value arrived as. WSGI hands them over decoded as latin-1; other
    callers may pass any text, so fall back to UTF-8 (keeping lone surrogates)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def hmac_sha256_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time equality of a header value and the expected ASCII text."""
    return hmac.compare_digest(header_bytes(given), expected.encode("ascii"))


def same_secret(given: str, secret: bytes) -> bool:
    """Constant-time equality of a header value and a secret token: the header's raw bytes
    (as WSGI hands them over) or, for a caller that passes decoded text, its UTF-8."""
    candidates = {header_bytes(given), given.encode("utf-8", "surrogatepass")}
    results = [hmac.compare_digest(candidate, secret) for candidate in candidates]
    return any(results)


def body_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def clean_id(value: str | None, body: bytes) -> str:
    """A delivery id as stored: trimmed, bounded, or the body hash when there is none."""
    value = (value or "").strip()
    if not value:
        return body_id(body)
    if len(value) > MAX_DELIVERY_ID or not value.isprintable():
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


def parse_payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery: the body itself, or the `payload` field of a form body
    (GitHub and Gitea both offer application/x-www-form-urlencoded)."""
    raw = body
    content_type = lower(headers).get("content-type", "").split(";")[0].strip().lower()
    if content_type == FORM or (content_type == "" and body[:8] == b"payload="):
        raw = form_payload(body) or b""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise PayloadError(f"the body is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise PayloadError("the body is not a JSON object")
    return data


def form_payload(body: bytes) -> bytes | None:
    """The `payload` field of a url-encoded form body, or None."""
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("payload")
    return values[0].encode("utf-8") if values else None


# -- typed access into untrusted JSON -------------------------------------------------------

def dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(data: Any, *path: str) -> str | None:
    value = dig(data, *path)
    return value if isinstance(value, str) else None


def flag(data: Any, *path: str) -> bool:
    return dig(data, *path) is True


def integer(data: Any, *path: str) -> int | None:
    value = dig(data, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def first_text(data: Any, *paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value = text(data, *path)
        if value:
            return value
    return None


def changed_paths(commits: Any) -> tuple[str, ...]:
    """Files added, removed or modified by the commits listed in a push payload (a hint)."""
    found: set[str] = set()
    if isinstance(commits, list):
        for commit in commits:
            for key in ("added", "removed", "modified"):
                files = dig(commit, key)
                if isinstance(files, list):
                    found.update(f for f in files if isinstance(f, str))
    return tuple(sorted(found))


def same_repo(a: str | None, b: str | None) -> bool:
    """Repository full names compare case-insensitively on every provider."""
    return a is not None and b is not None and a.lower() == b.lower()
