"""QueueWorker: runs the durable queue's runs in this server, keeping their leases alive.

A run whose server died mid-way is claimed again when its lease expires; the dead
attempt is recorded in the history as KILLED, then the run starts over, so every
queued run ends with exactly one finished execution.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time

from runner.errors import GitflowsError
from runner.events import State, iso
from runner.history.records import HistoryEvent
from webhooks.background import Background
from webhooks.queue import QueuedRun, RunQueue
from webhooks.service import FlowService, Record

log = logging.getLogger("gitflows.queue")
LEASE_SECONDS = 15.0
POLL_SECONDS = 0.2
DEAD_SEQ = 1_000_000  # above any seq a live run writes: the KILLED verdict is final


class QueueWorker(Background):
    name = "gitflows-queue"

    def __init__(self, service: FlowService, queue: RunQueue, lease: float = LEASE_SECONDS) -> None:
        super().__init__()
        self.service = service
        self.queue = queue
        self.lease = lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self.slots = service.config.workers
        self._active: dict[int, Record] = {}
        self._last_extend = 0.0

    def round(self) -> bool:
        self._reap_finished()
        if time.monotonic() - self._last_extend > self.lease / 3:
            self.queue.extend(self.owner, self.lease)
            self._last_extend = time.monotonic()
        return self.step()

    def idle(self) -> None:
        self.service.wait_for_queue(POLL_SECONDS)

    def _reap_finished(self) -> None:
        for run_id, record in list(self._active.items()):
            if record.done.is_set():
                self.queue.finish(run_id)
                del self._active[run_id]

    def step(self) -> bool:
        """Start the next queued run if a slot is free; False when there was nothing to do."""
        if len(self._active) >= self.slots:
            return False
        item = self.queue.claim(self.owner, self.lease)
        if item is None:
            return False
        if item.dead_execution:
            ended = finished_state(self.service, item.repo, item.dead_execution)
            if ended is not None:  # it ended; its server died before the queue heard of it
                log.info("run %s: execution %s had ended %s; not running it again", item.key,
                         item.dead_execution, ended)
                self.queue.finish(item.id)
                return True
            self._record_dead(item)
        try:
            execution = self.service.start(item.namespace, item.flow_id, item.inputs, repo=item.repo,
                                           ref=item.commit, trigger=item.trigger,
                                           untrusted=item.untrusted)
        except GitflowsError as err:
            log.error("queued run %s cannot start: %s", item.key, err)
            self.queue.finish(item.id)
            return True
        self.queue.started(item.id, execution.id)
        self._active[item.id] = self.service.record(execution.id)
        return True

    def _record_dead(self, item: QueuedRun) -> None:
        assert item.dead_execution is not None
        log.warning("run %s: its server died during execution %s; running it again",
                    item.key, item.dead_execution)
        record_dead(self.service, item.repo, item.commit, f"{item.namespace}.{item.flow_id}",
                    str(item.trigger.get("type")), item.dead_execution,
                    f"flows serve@{socket.gethostname()} (dead attempt)")


def finished_state(service: FlowService, repo: str, execution_id: str) -> str | None:
    """The final state the history holds for an execution, if it ended (else None)."""
    try:
        events = service.history(repo).run(execution_id)
    except GitflowsError as err:
        log.error("cannot read the history of %s: %s", execution_id, err)
        return None
    if not events:
        return None
    last = max(events, key=lambda event: event.seq)
    try:
        return last.state if State(last.state).terminal else None
    except ValueError:
        return None


def record_dead(service: FlowService, repo: str, commit: str, flow: str, trigger: str,
                execution_id: str, runner: str) -> None:
    """Record the attempt of a run whose process died as KILLED, its final state."""
    event = HistoryEvent(t=iso(dt.datetime.now(dt.UTC)), run=execution_id, seq=DEAD_SEQ, flow=flow,
                         state="KILLED", trigger=trigger, runner=runner)
    try:
        service.history(repo).append(commit, [event])
    except GitflowsError as err:
        log.error("cannot record the dead attempt %s: %s", execution_id, err)
