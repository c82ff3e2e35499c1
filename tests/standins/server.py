"""The common part of the API stand-ins: a real HTTP server in a thread, bound to
127.0.0.1:0, that records every request (secrets masked) and can be told to answer
some requests with an error first (to exercise retries and fallbacks)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SECRET_HEADERS = {"authorization", "private-token", "x-gitea-token", "cookie"}


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in saw it, and what it answered."""

    method: str
    path: str  # as sent, percent-encoding kept
    query: str
    headers: dict[str, str]  # secret values masked: "Bearer ***"
    body: Any  # decoded JSON, or the raw text
    status: int = 0
    errors: tuple[str, ...] = ()  # why the request is invalid; empty when it is valid
    operation: str | None = None  # the OpenAPI operationId (GitHub) or a route name


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Scripted:
    method: str
    pattern: re.Pattern[str]
    answer: Answer
    times: int | None  # None: for ever


def mask(name: str, value: str) -> str:
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    return f"{scheme} ***" if rest else "***"


class StandIn:
    """Subclasses implement `check` (validation: errors and the operation matched) and
    `respond` (the answer to a valid request). Invalid requests get 422 (401 when the
    credentials are wrong) and are kept with their errors for the test to assert on."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self._scripted: list[_Scripted] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                owner._serve(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True,
                                       name=f"standin-{type(self).__name__}")
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection -------------------------------------------------
    def fail(self, method: str, path_regex: str, status: int, times: int | None = 1,
             body: Any = None) -> None:
        """Answer the next `times` matching requests with `status` (None: all of them)."""
        answer = Answer(status, body if body is not None else {"message": f"scripted {status}"})
        with self.lock:
            self._scripted.append(_Scripted(method.upper(), re.compile(path_regex), answer, times))

    def invalid(self) -> list[Recorded]:
        """Requests the stand-in found invalid (the tests assert there are none)."""
        with self.lock:
            return [r for r in self.requests if r.errors]

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and contains in r.path]

    # -- serving -------------------------------------------------------------------
    def check(self, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[list[str], str | None, dict[str, str]]:
        """(errors, operation, path parameters) of a request."""
        raise NotImplementedError

    def respond(self, method: str, operation: str, params: dict[str, str], body: Any) -> Answer:
        raise NotImplementedError

    def _scripted_answer(self, method: str, path: str) -> Answer | None:
        with self.lock:
            for entry in self._scripted:
                if entry.method == method and entry.pattern.search(path):
                    if entry.times is not None:
                        entry.times -= 1
                        if entry.times <= 0:
                            self._scripted.remove(entry)
                    return entry.answer
        return None

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k: v for k, v in request.headers.items()}
        errors: list[str] = []
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                body = raw.decode("utf-8", "replace")
                errors.append(f"body is not UTF-8 JSON: {err}")
            content_type = request.headers.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                errors.append(f"Content-Type {content_type!r} is not application/json")
        operation, params = None, {}
        if not errors:
            try:
                errors, operation, params = self.check(request.command, parts.path, headers, body)
            except Exception as err:  # a stand-in bug must show in the test, not hang it
                errors = [f"stand-in error: {err!r}"]
        if errors:
            status = 401 if any(e.startswith("auth:") for e in errors) else 422
            answer = Answer(status, {"message": "Validation Failed", "errors": errors})
        else:
            scripted = self._scripted_answer(request.command, parts.path)
            try:
                answer = scripted or self.respond(request.command, operation or "", params, body)
            except Exception as err:
                answer, errors = Answer(500, {"message": repr(err)}), [f"stand-in error: {err!r}"]
        shown = {k: mask(k, v) for k, v in headers.items()}
        with self.lock:
            self.requests.append(Recorded(request.command, parts.path, parts.query, shown, body,
                                          answer.status, tuple(errors), operation))
        data = b"" if answer.body is None else json.dumps(answer.body).encode("utf-8")
        request.send_response(answer.status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)
