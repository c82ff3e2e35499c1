"""The HTTP server of `flows serve`: waitress, a production WSGI server, threaded in this one
process, beside the background loops (queue worker, dispatcher, ticker …) its requests talk to.

Stopping (SIGTERM, Ctrl-C) is graceful: the listening socket closes first (new clients are
refused), the requests under way get up to SHUTDOWN_SECONDS to finish and have their answers
sent, then the server returns and the caller stops the loops. A log stream (SSE) that is
still open then is cut; the browser's EventSource reconnects to the next server by itself.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from waitress.server import create_server  # type: ignore[import-untyped]

log = logging.getLogger("gitflows.http")
THREADS = 48  # requests served at once; each open execution page holds one (its log stream)
CONNECTION_LIMIT = 512  # open connections (keep-alive ones included)
BACKLOG = 128  # connections waiting to be accepted
SHUTDOWN_SECONDS = 5.0
_TICK = 0.05  # seconds: how often draining looks again at what is left


def serve(app: Any, listener: socket.socket) -> None:
    """Serve the WSGI app on listener (bound already: webhooks/server.py binds it before
    anything else starts) until SystemExit or KeyboardInterrupt, then drain and return."""
    server = create_server(app, sockets=[listener], threads=THREADS, ident="gitflows",
                           connection_limit=CONNECTION_LIMIT, backlog=BACKLOG)
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
