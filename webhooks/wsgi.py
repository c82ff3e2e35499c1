"""The HTTP server of `flows serve`: waitress, a production WSGI server, threaded in this one
process, beside the background loops (queue worker, dispatcher, ticker …) its requests talk to.

Stopping (SIGTERM, Ctrl-C) is graceful: the listening socket closes first (new clients are
refused), the requests under way get up to SHUTDOWN_SECONDS to finish and have their answers
sent, then the server returns and the caller stops the loops. A log stream (SSE) that is
still open then is cut; the browser's EventSource reconnects to the next server by itself.

waitress logs no requests: AccessLog writes one line per request (method, path, status,
milliseconds until the answer was sent), never a query string or a header, where tokens go.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from waitress.server import create_server  # type: ignore[import-untyped]

from runner.secrets import MASK

log = logging.getLogger("gitflows.http")
access = logging.getLogger("gitflows.access")
THREADS = 48  # requests served at once; each open execution page holds one (its log stream)
CONNECTION_LIMIT = 512  # open connections (keep-alive ones included)
BACKLOG = 128  # connections waiting to be accepted
SHUTDOWN_SECONDS = 5.0
_TICK = 0.05  # seconds: how often draining looks again at what is left


def serve(app: Any, listener: socket.socket, largest_body: int) -> None:
    """Serve the WSGI app on listener (bound already: webhooks/server.py binds it before
    anything else starts) until SystemExit or KeyboardInterrupt, then drain and return.

    waitress reads a whole request body before the app sees it (spooled to a file when
    large): a body over twice the largest one the app accepts is refused (413) as it comes,
    so nobody streams gigabytes onto the server's disk. Between the two the app answers its
    own JSON 413."""
    server = create_server(AccessLog(app), sockets=[listener], threads=THREADS, ident="gitflows",
                           connection_limit=CONNECTION_LIMIT, backlog=BACKLOG,
                           max_request_body_size=2 * largest_body)
    try:
        server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map)
    except (SystemExit, KeyboardInterrupt):
        log.info("stopping: new connections are refused; finishing the requests under way")
    finally:
        server.close()  # the listening socket: refused from now on
        _drain(server, time.monotonic() + SHUTDOWN_SECONDS)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=_TICK)


def _busy(server: Any) -> bool:
    """Whether a connection still has a request being served or an answer not yet sent."""
    return any(channel.requests or channel.total_outbufs_len
               for channel in list(server.active_channels.values()))


def _drain(server: Any, deadline: float) -> None:
    """Drive the event loop (which sends what the request threads write) until every request
    under way is answered, or the deadline."""
    while _busy(server) and time.monotonic() < deadline:
        server.asyncore.loop(timeout=_TICK, map=server._map, count=1)
    left = sum(1 for channel in server.active_channels.values() if channel.requests)
    if left:
        log.warning("stopped with %d request(s) unfinished (log streams, waits longer than %.0fs)",
                    left, SHUTDOWN_SECONDS)


# the last segment of a Kestra webhook URL is the flow's secret key
_WEBHOOK_KEY = re.compile(r"^(/api/v1/executions/webhook/[^/]+/[^/]+/)[^/]+")


def logged_path(environ: dict[str, Any]) -> str:
    """The request's path as logged: no query string, a webhook key masked."""
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
    return _WEBHOOK_KEY.sub(lambda m: m.group(1) + MASK, path)


class AccessLog:
    """WSGI middleware: one access line per request, once its answer has been sent (the
    response iterable closed; a log stream logs when it ends)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        started = time.monotonic()
        status = ["-"]

        def recording(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        try:
            body = self.app(environ, recording)
        except BaseException:
            self._line(environ, "500", started)
            raise
        return self._sent(body, environ, status, started)

    def _sent(self, body: Iterable[bytes], environ: dict[str, Any], status: list[str],
              started: float) -> Iterator[bytes]:
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                self._line(environ, status[0], started)

    @staticmethod
    def _line(environ: dict[str, Any], status: str, started: float) -> None:
        access.info("%s %s %s %.1fms", environ.get("REQUEST_METHOD", "-"), logged_path(environ),
                    status, (time.monotonic() - started) * 1000)
