"""`flows serve`: the service, its background loops and the HTTP server, started and
stopped together (the CLI parses options; this runs them)."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable

from runner.errors import UsageError
from runner.executors import Executors
from webhooks.app import create_app
from webhooks.background import Background
from webhooks.config import ServerConfig
from webhooks.ingress.httpapi import CONTROL
from webhooks.loops.dispatcher import Dispatcher
from webhooks.loops.event_triggers import EventTriggers
from webhooks.loops.poller import Poller
from webhooks.loops.ticker import Ticker
from webhooks.runs.service import FlowService
from webhooks.runs.workers import QueueWorker
from webhooks.wsgi import serve as run_http

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def loggable(text: str) -> str:
    """Text with control characters escaped (a newline becomes \\n), so a value from a request
    or a delivery (a ref, a repository name, a path) cannot forge log lines."""
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class OneLineFormatter(logging.Formatter):
    """Each record is one line: its message goes through loggable(); only a traceback
    (formatted by logging itself) spans lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = loggable(record.message)
        return super().formatMessage(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Server logs on stderr: what is watched, queued, retried, and why something failed;
    one line per record whatever a request carried."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("dramatiq", "pika", "botocore", "urllib3", "docker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind(host: str, port: int) -> socket.socket:
    """The HTTP listening socket, taken before anything else: a server that cannot have its
    port stops here, before it opens its data, the broker or any trigger's connection (a
    second server's MQTT client would take over the first one's session)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))  # listen() only when requests can be answered (serve below)
        return sock
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use by another program (another flows serve?); "
                             "stop it or choose another --port. Nothing was started") from None
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}. "
                         "Nothing was started") from None


def _loops(service: FlowService, config: ServerConfig, broker: str | None) -> list[Background]:
    """The background loops of a server, not started yet."""
    if broker:  # runs go to `flows worker` processes; their events come back
        from webhooks.scale.commands import attach

        runners = attach(service, broker)
    else:
        runners = [QueueWorker(service, service.intake.queue, lease=config.queue_lease)]
    loops: list[Background] = [*runners, Dispatcher(service), Ticker(service), EventTriggers(service)]
    if config.poll:
        loops.append(Poller(service, config.poll))
    return loops


def serve(config: ServerConfig, executors: Executors, broker: str | None,
          echo: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT, then stop every loop and close the service. UsageError,
    having started nothing, when the port cannot be had."""
    configure_logging()
    listener = bind(config.host, config.port)  # first: see bind()
    try:
        service = FlowService(config, executors)
    except BaseException:
        listener.close()
        raise
    loops: list[Background] = []
    try:
        for flow in service.catalog.flows():
            echo(f"serving {flow.repo}:{flow.file} at {flow.commit[:10]}")
        loops = _loops(service, config, broker)
        for loop in loops:
            loop.start()
        threading.Thread(target=service.repos.index_histories, name="gitflows-history-index",
                         daemon=True).start()
        port = listener.getsockname()[1]
        echo(f"gitflows on http://{config.host}:{port}/")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly: the finally below runs
        # listening starts in run_http, once requests can be answered (a client is refused until then)
        run_http(create_app(service), listener, max(config.max_body, config.max_delivery))
    finally:
        for loop in reversed(loops):
            loop.stop()
        service.close()
        listener.close()
