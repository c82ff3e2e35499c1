"""Dramatiq with its Redis broker; the only module that imports dramatiq.

A run travels as one message to the actor `gitflows_run` on a queue (`default`, or the
flow's workerGroup key). Dramatiq keeps each fetched message in the fetching worker's ack
set until the actor returns; a worker whose heartbeat stops for `heartbeat_timeout` has
its messages put back on their queue by the maintenance of the others (which we run
often, see MAINTENANCE_CHANCE), so a run held by a worker killed with SIGKILL is
delivered to another one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

ACTOR = "gitflows_run"
DEFAULT_QUEUE = "default"
NAMESPACE = "gitflows-dramatiq"
# Dramatiq runs queue maintenance (requeueing dead workers' messages) on this many calls out
# of a million; its default (1 in 1000) can leave a dead worker's runs waiting for minutes.
MAINTENANCE_CHANCE = 50_000


class HandBack(dramatiq.Retry):
    """A stopping worker gives a run back: delivered again soon (to another worker), and not
    logged as an error."""


class Broker:
    def __init__(self, url: str, *, heartbeat_timeout: float = 30.0, maintenance: bool = True) -> None:
        """maintenance: False on servers, so that only workers (which share one heartbeat
        timeout) decide which workers are dead."""
        self.url = url
        self.heartbeat_timeout = heartbeat_timeout
        self.dramatiq = RedisBroker(url=url, namespace=NAMESPACE,
                                    middleware=[Retries(max_retries=3, min_backoff=1000,
                                                        max_backoff=30_000)],
                                    heartbeat_timeout=int(heartbeat_timeout * 1000),
                                    maintenance_chance=MAINTENANCE_CHANCE if maintenance else 0,
                                    )  # type: ignore[no-untyped-call]
        self._worker: dramatiq.Worker | None = None

    def send(self, queue: str, payload: dict[str, Any], delay: float | None = None) -> None:
        self.dramatiq.declare_queue(queue)
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue, actor_name=ACTOR, args=(payload,), kwargs={}, options={})
        self.dramatiq.enqueue(message, delay=int(delay * 1000) if delay else None)

    def depths(self, queues: Iterable[str]) -> dict[str, int]:
        """Messages waiting in each queue (delayed ones included), not yet fetched by a worker."""
        client: Any = self.dramatiq.client
        return {queue: int(client.llen(f"{NAMESPACE}:{queue}")) + int(client.llen(f"{NAMESPACE}:{queue}.DQ"))
                for queue in queues}

    def heartbeat(self, queues: Iterable[str]) -> None:
        """Tell Dramatiq this worker is alive even while every thread is busy with long runs
        (its consumers only beat when they fetch), giving maintenance a chance too."""
        for queue in queues:
            self.dramatiq.do_qsize(queue)

    def consume(self, handler: Callable[[dict[str, Any]], None], queues: list[str],
                concurrency: int) -> None:
        """Start consuming: handler(payload) runs a message on one of `concurrency` threads;
        an exception retries the message later (up to 3 times)."""
        def run(payload: dict[str, Any]) -> None:
            handler(payload)

        dramatiq.Actor(run, broker=self.dramatiq, actor_name=ACTOR, queue_name=DEFAULT_QUEUE,
                       priority=0, options={})
        for queue in queues:
            self.dramatiq.declare_queue(queue)
        worker = dramatiq.Worker(self.dramatiq, queues=set(queues), worker_threads=concurrency,
                                 worker_timeout=100)
        worker.queue_prefetch = concurrency  # do not hoard runs another idle worker could start
        worker.start()
        self._worker = worker

    def stop(self, timeout: float) -> None:
        """Stop taking messages, wait up to timeout for the running ones, requeue the rest."""
        if self._worker is not None:
            worker, self._worker = self._worker, None
            stopper = threading.Thread(target=worker.stop, args=(int(timeout * 1000),), daemon=True)
            stopper.start()
            stopper.join(timeout + 5)

    def close(self) -> None:
        self.dramatiq.close()
