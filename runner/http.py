"""A small JSON-over-HTTP client for the reporters (standard library urllib only).

Transient failures (5xx, 429, timeouts, refused connections) are retried with
backoff; other answers are returned or raised as HttpError at once. Secrets never
reach a log line or an exception message: callers name them and they are redacted.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.secrets import mask_text

log = logging.getLogger("gitflows.report")

USER_AGENT = "gitflows"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """The first try, then one more after each delay (seconds): 0.5 s, 1 s, 2 s."""

    delays: tuple[float, ...] = (0.5, 1.0, 2.0)
    timeout: float = 10.0


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # the decoded JSON, or the text when it is not JSON, or None
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """An answer that is not 2xx (status 0: no answer at all)."""

    def __init__(self, method: str, url: str, status: int, detail: str) -> None:
        super().__init__(f"{method} {url}: {status or 'no answer'} {detail}".rstrip())
        self.status = status
        self.detail = detail


def redact(text: str, secrets: Iterable[str]) -> str:
    return mask_text(text, frozenset(secrets))


class Transport:
    """Sends JSON requests; `sleep` and `opener` are seams for tests."""

    def __init__(self, policy: RetryPolicy | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 opener: urllib.request.OpenerDirector | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.opener = opener or urllib.request.build_opener(_NoRedirect())

    def request(self, method: str, url: str, body: Any = None, *,
                headers: Mapping[str, str] | None = None,
                secrets: Iterable[str] = ()) -> Response:
        """The 2xx answer; HttpError for anything else, after retrying transient failures."""
        hidden = tuple(secrets)
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        shown = redact(url, hidden)
        delays = (*self.policy.delays, None)
        for attempt, delay in enumerate(delays, start=1):
            try:
                return self._once(method, url, data, sent)
            except HttpError as err:
                retry = err.status == 0 or err.status in _RETRY_STATUSES
                detail = redact(err.detail, hidden)
                if not retry or delay is None:
                    raise HttpError(method, shown, err.status, detail) from None
                log.info("%s %s: %s %s (try %d), retrying in %.1fs", method, shown,
                         err.status or "no answer", detail, attempt, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, method: str, url: str, data: bytes | None,
              headers: Mapping[str, str]) -> Response:
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
        try:
            with self.opener.open(request, timeout=self.policy.timeout) as answer:
                raw = answer.read()
                return Response(answer.status, _decode(raw), dict(answer.headers.items()))
        except urllib.error.HTTPError as err:
            raw = err.read() if err.fp is not None else b""
            err.close()
            raise HttpError(method, url, err.code, _snippet(raw)) from None
        except OSError as err:  # URLError, timeouts, refused or reset connections
            reason = getattr(err, "reason", err)
            raise HttpError(method, url, 0, f"({type(reason).__name__}: {reason})") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: a token must not be replayed to another host."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _snippet(raw: bytes) -> str:
    body = _decode(raw)
    if isinstance(body, dict) and "message" in body:
        text = str(body["message"])
        if body.get("errors"):
            text += f" {json.dumps(body['errors'])[:300]}"
        return text
    return str(body or "")[:300]
