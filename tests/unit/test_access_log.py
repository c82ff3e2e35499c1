"""The access log of `flows serve` (webhooks/wsgi.py AccessLog): one line per request with its
method, path, status and duration, sent over a real waitress server on 127.0.0.1; never the
query string, a header or a webhook's key."""

from __future__ import annotations

import http.client
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from waitress.server import create_server  # type: ignore[import-untyped]

from webhooks.wsgi import AccessLog

LINE = re.compile(r"^(\S+) (\S+) (\d{3}) (\d+\.\d)ms$")
RELEASE = threading.Event()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("the app failed")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stream()
    status = "404 NOT FOUND" if path == "/missing" else "201 CREATED"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def _stream() -> Iterator[bytes]:
    yield b"first\n"
    RELEASE.wait(30)
    yield b"last\n"


class Lines(logging.Handler):
    """The access lines logged, and a way to wait for the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.lines.append(record.getMessage())
            self.changed.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.lines) >= count, timeout=30), self.lines
            return list(self.lines)


@pytest.fixture
def served() -> Iterator[tuple[int, Lines]]:
    lines = Lines()
    logger = logging.getLogger("gitflows.access")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    server = create_server(AccessLog(app), host="127.0.0.1", port=0, threads=4)
    stop = threading.Event()

    def loop() -> None:  # closed by its own thread once stopped: never under a running select
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)
        server.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server.effective_port, lines
    finally:
        RELEASE.set()
        stop.set()
        thread.join(10)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        logger.removeHandler(lines)


def _get(port: int, method: str, target: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, target, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_one_line_per_request_with_method_path_status_and_duration(served: tuple[int, Lines]) -> None:
    port, lines = served
    assert _get(port, "POST", "/api/v1/flows?token=s3cret&q=x",
                {"Authorization": "Bearer hunter2", "Cookie": "session=abc"}) == 201
    assert _get(port, "GET", "/missing") == 404
    logged = lines.wait_for(2)
    assert len(logged) == 2
    first, second = (LINE.match(line) for line in logged)
    assert first is not None and first.group(1, 2, 3) == ("POST", "/api/v1/flows", "201")
    assert second is not None and second.group(1, 2, 3) == ("GET", "/missing", "404")
    assert float(first.group(4)) >= 0
    text = "\n".join(logged)
    for secret in ("s3cret", "token", "hunter2", "Bearer", "session=abc", "?"):
        assert secret not in text


def test_a_webhook_key_in_the_path_is_masked(served: tuple[int, Lines]) -> None:
    port, lines = served
    _get(port, "POST", "/api/v1/executions/webhook/team/deploy/the-secret-key")
    [line] = lines.wait_for(1)
    assert line.startswith("POST /api/v1/executions/webhook/team/deploy/****** 201 ")
    assert "the-secret-key" not in line


def test_an_app_error_is_logged_as_500(served: tuple[int, Lines]) -> None:
    port, lines = served
    assert _get(port, "GET", "/boom") == 500
    [line] = lines.wait_for(1)
    assert line.startswith("GET /boom 500 ")


def test_a_stream_is_logged_once_its_answer_has_been_sent(served: tuple[int, Lines]) -> None:
    port, lines = served
    RELEASE.clear()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/stream")
        response = conn.getresponse()
        assert response.readline() == b"first\n"
        assert lines.lines == []  # the stream is held open: not answered yet
        RELEASE.set()
        assert response.read() == b"last\n"
    finally:
        conn.close()
    [line] = lines.wait_for(1)
    assert LINE.match(line) is not None and line.startswith("GET /stream 200 ")
