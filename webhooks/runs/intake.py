"""Intake: how work reaches the runners — provider deliveries into the inbox (for the
dispatcher), runs into the durable queue (for the queue worker) or, with scale-out, to the
broker of `flows worker` processes — and the wake-ups that make the loops look at once."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from webhooks.ingress.inbox import Inbox
from webhooks.runs.queue import NewRun, RunQueue
from webhooks.runs.records import RunBroker


class Intake:
    def __init__(self, data_dir: Path) -> None:
        self.inbox = Inbox(data_dir / "inbox.sqlite3")
        self.queue = RunQueue(data_dir / "runs.sqlite3")
        # scale-out: with a broker, enqueue hands runs to workers; `executes` False (flows serve
        # --broker) also sends API-started runs there
        self.broker: RunBroker | None = None
        self.executes = True
        self.outbox = False  # flows serve --broker: queue locally first, a Forwarder sends on
        self._queued = threading.Event()
        self._delivered = threading.Event()

    @property
    def remote(self) -> bool:
        """Runs started here execute on `flows worker` processes (flows serve --broker)."""
        return self.broker is not None and not self.executes

    def enqueue(self, key: str, repo: str, namespace: str, flow_id: str, commit: str,
                trigger: Mapping[str, Any], untrusted: bool = False,
                inputs: Mapping[str, Any] | None = None) -> bool:
        """Queue a run durably (once per key); the queue worker (or a `flows worker`) starts it."""
        if self.broker is not None and not self.outbox:
            return self.broker.enqueue(key, repo, namespace, flow_id, commit, dict(trigger),
                                       untrusted, dict(inputs or {}))
        added = self.queue.enqueue(key, repo, namespace, flow_id, commit, dict(trigger), untrusted,
                                   dict(inputs or {}))
        self._queued.set()
        return added

    def enqueue_many(self, runs: list[NewRun]) -> list[bool]:
        """enqueue() for a batch of runs: into the queue in one transaction (all or none)."""
        if self.broker is not None and not self.outbox:
            return [self.enqueue(r.key, r.repo, r.namespace, r.flow_id, r.commit, r.trigger,
                                 r.untrusted, r.inputs) for r in runs]
        added = self.queue.enqueue_many(runs)
        if runs:
            self._queued.set()
        return added

    def wake_queue(self) -> None:
        """Runs were queued behind enqueue's back (a batch of events): start them now."""
        self._queued.set()

    def wait_for_queue(self, timeout: float) -> None:
        self._queued.wait(timeout)
        self._queued.clear()

    def wake_dispatcher(self) -> None:
        """A delivery was stored: let the dispatcher look now rather than at its next poll."""
        self._delivered.set()

    def wait_for_delivery(self, timeout: float) -> None:
        self._delivered.wait(timeout)
        self._delivered.clear()
