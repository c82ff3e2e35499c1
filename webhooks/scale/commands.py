"""What `flows serve --broker`, `flows worker` and `flows workers` do (cli.py wires click)."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any

from runner.executors import Executors
from webhooks.background import Background
from webhooks.runs.service import FlowService
from webhooks.scale.broker import Broker
from webhooks.scale.dispatch import RemoteDispatch
from webhooks.scale.forward import Forwarder
from webhooks.scale.redisio import Events, Registry, connect
from webhooks.scale.relay import RelayReader
from webhooks.scale.worker import FlowWorker, WorkerOptions

DEAD_WORKERS_SHOWN = 3600.0  # seconds a silent worker stays listed (as dead) by `flows workers`


def attach(service: FlowService, url: str) -> list[Background]:
    """Make a server hand its runs to workers; the loops to start (relay of run events)."""
    client = connect(url)
    dispatch = RemoteDispatch(service, Broker(url, maintenance=False), client)
    service.intake.broker, service.intake.executes, service.intake.outbox = dispatch, False, True
    return [RelayReader(service, Events(client)),
            Forwarder(service.intake.queue, dispatch, service.intake.wait_for_queue)]


def run_worker(url: str, options: WorkerOptions, executors: Executors,
               environ: Mapping[str, str] | None = None) -> None:
    """Run until SIGTERM/SIGINT; then current runs finish within the grace time or go back."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    worker = FlowWorker(url, options, executors, environ)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    worker.run()


def workers_listing(url: str, as_json: bool) -> str:
    registry = Registry(connect(url))
    registry.forget_dead(DEAD_WORKERS_SHOWN)
    found = registry.workers()
    if as_json:
        return json.dumps(found, indent=2)
    if not found:
        return "no workers"
    rows = [("WORKER", "STATE", "QUEUES", "CONC", "HEARTBEAT", "DONE", "RUNS")]
    for w in found:
        state = ("stopping" if w.get("stopping") else "alive") if w["alive"] else "dead"
        rows.append((w["id"], state, ",".join(w.get("queues", [])), str(w.get("concurrency", "")),
                     f"{w['heartbeat_age']}s ago", str(w.get("done", 0)),
                     " ".join(w.get("runs", [])) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                     + "  " + row[-1] for row in rows)


def wait_for_workers(url: str, count: int, timeout: float) -> list[dict[str, Any]]:
    """The live workers once there are `count` of them (tests, benchmarks)."""
    registry = Registry(connect(url))
    deadline = time.monotonic() + timeout
    while True:
        alive = [w for w in registry.workers() if w["alive"]]
        if len(alive) >= count or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)
