"""Forwarder: with `flows serve --broker`, the server's durable SQLite run queue is the outbox.

Deliveries, cron ticks, Flow triggers and event-trigger batches are queued locally first,
exactly as without a broker (an event batch together with its cursor, in one transaction);
this loop then hands each queued run to the broker and marks it done. A server killed at
any point loses nothing: an unforwarded run is claimed again after its lease and sent
again. The Redis ledger lets a server re-send a key it reserved itself that no worker has
claimed yet (it may have died between reserving and sending), and keeps a key that another
replica reserved to that replica; a duplicate message is dropped by the worker's claim.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from webhooks.background import Background
from webhooks.runs.queue import RunQueue
from webhooks.scale.dispatch import RemoteDispatch

log = logging.getLogger("gitflows.scale")
LEASE_SECONDS = 30.0  # a run being forwarded; far longer than a send takes
IDLE_SECONDS = 1.0


class Forwarder(Background):
    name = "gitflows-forward"

    def __init__(self, queue: RunQueue, dispatch: RemoteDispatch,
                 wait: Callable[[float], None]) -> None:
        super().__init__()
        self.queue = queue
        self.dispatch = dispatch
        self.wait = wait
        self.owner = f"forward:{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self._failing: str | None = None

    def round(self) -> bool:
        item = self.queue.claim(self.owner, LEASE_SECONDS)
        if item is None:
            return False
        try:
            sent = self.dispatch.enqueue(item.key, item.repo, item.namespace, item.flow_id,
                                         item.commit, item.trigger, item.untrusted, item.inputs)
        except Exception as err:  # Redis away: the lease runs out and the run is sent later
            if self._failing != str(err):
                log.error("cannot hand run %s to the broker yet: %s", item.key, err)
            self._failing = str(err)
            return False
        self._failing = None
        self.queue.finish(item.id)
        log.info("run %s %s", item.key, "sent to the workers" if sent else "queued by another server")
        return True

    def idle(self) -> None:
        self.wait(IDLE_SECONDS)
