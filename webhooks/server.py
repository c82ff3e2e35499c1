"""`flows serve`: the service, its background loops and the HTTP server, started and
stopped together (the CLI parses options; this runs them)."""

from __future__ import annotations

import logging
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


def configure_logging(level: int = logging.INFO) -> None:
    """Server logs on stderr: what is watched, queued, retried, and why something failed."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
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
