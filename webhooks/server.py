"""`flows serve`: the service, its background loops and the HTTP server, started and
stopped together (the CLI parses options; this runs them)."""

from __future__ import annotations

import logging
import re
import signal
import sys
from collections.abc import Callable

from runner.executors import Executors
from webhooks.app import create_app
from webhooks.app import serve as run_http
from webhooks.background import Background
from webhooks.config import ServerConfig
from webhooks.dispatcher import Dispatcher
from webhooks.event_triggers import EventTriggers
from webhooks.poller import Poller
from webhooks.service import FlowService
from webhooks.ticker import Ticker
from webhooks.workers import QueueWorker

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line separators
# werkzeug colours its request lines (having escaped the request's own control characters)
_WERKZEUG_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def loggable(text: str) -> str:
    """Text with control characters escaped (a newline becomes \\n), so a value from a request
    or a delivery (a ref, a repository name, a path) cannot forge log lines."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class OneLineFormatter(logging.Formatter):
    """Each record is one line: its message goes through loggable(); only a traceback
    (formatted by logging itself) spans lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.name == "werkzeug":  # a log file has no use for terminal colours
            record.message = _WERKZEUG_COLOUR.sub("", record.message)
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


def serve(config: ServerConfig, executors: Executors, broker: str | None,
          echo: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT, then stop every loop and close the service."""
    configure_logging()
    service = FlowService(config, executors)
    for flow in service.flows():
        echo(f"serving {flow.repo}:{flow.file} at {flow.commit[:10]}")
    if broker:  # runs go to `flows worker` processes; their events come back
        from webhooks.scale.commands import attach

        runners = attach(service, broker)
    else:
        runners = [QueueWorker(service, service.queue, lease=config.queue_lease)]
    loops: list[Background] = [*runners, Dispatcher(service), Ticker(service), EventTriggers(service)]
    if config.poll:
        loops.append(Poller(service, config.poll))
    for loop in loops:
        loop.start()
    echo(f"gitflows on http://{config.host}:{config.port}/")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly: the finally below runs
    try:
        run_http(create_app(service), config.host, config.port)
    finally:
        for loop in reversed(loops):
            loop.stop()
        service.close()
