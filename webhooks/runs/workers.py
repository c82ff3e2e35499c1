"""QueueWorker: runs the durable queue's runs in this server, keeping their leases alive.

A run whose server died mid-way is claimed again when its lease expires; what the dead
attempt still runs (host process groups recorded under <data>/steps, containers labelled
with its execution) is killed, the take-over is recorded in the history (RESTARTED), then
the run starts over under the same execution id, so every queued run ends with exactly one
finished execution, the id handed out ends in its real final state, and no two attempts of
it run at once.

A full disk fails cleanly: a run that cannot start goes back to the queue (its lease is
not kept alive), and a lease is only extended for runs that really run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path

from runner.errors import GitflowsError
from runner.executors import LocalExecutor
from runner.executors.local import ProcessGroups
from runner.history.attempts import TakeOver, take_over
from runner.ids import ulid
from webhooks.background import Background
from webhooks.runs.queue import QueuedRun, RunQueue, StorageFullError, is_storage_full
from webhooks.runs.service import FlowService, Record

log = logging.getLogger("gitflows.queue")
LEASE_SECONDS = 15.0
POLL_SECONDS = 0.2


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
        self.groups = steps_of(service)

    def round(self) -> bool:
        self._reap_finished()
        if time.monotonic() - self._last_extend > self.lease / 3:
            running = [i for i, record in self._active.items() if not record.done.is_set()]
            self.queue.extend(self.owner, self.lease, running)
            self._last_extend = time.monotonic()
        return self.step()

    def idle(self) -> None:
        self.service.intake.wait_for_queue(POLL_SECONDS)

    def _reap_finished(self) -> None:
        for run_id, record in list(self._active.items()):
            if record.done.is_set():  # on a full disk this fails each round, its lease expires
                self.queue.finish(run_id)
                del self._active[run_id]

    def step(self) -> bool:
        """Start the next queued run if a slot is free; False when there was nothing to do."""
        if len(self._active) >= self.slots:
            return False
        item = self.queue.claim(self.owner, self.lease)
        if item is None:
            return False
        seq_from = 0
        if item.dead_execution:  # its server died: the run starts again under the same id
            stop_dead_attempt(self.service, self.groups, item.dead_execution)
            taken = self._take_over(item)
            if taken.ended is not None:  # it ended; its server died before the queue heard
                log.info("run %s: execution %s had ended %s; not running it again", item.key,
                         item.dead_execution, taken.ended)
                self.queue.finish(item.id)
                return True
            seq_from = taken.seq_from
        execution_id = item.dead_execution or ulid()
        try:
            # known to the queue before any step starts, so a take-over can stop its steps
            self.queue.started(item.id, execution_id)
            execution = self.service.runs.start(item.namespace, item.flow_id, item.inputs, repo=item.repo,
                                                ref=item.commit, trigger=item.trigger,
                                                untrusted=item.untrusted, execution_id=execution_id,
                                                seq_from=seq_from)
        except Exception as err:
            if is_storage_full(err):
                self._give_back(item)
                raise StorageFullError(f"queued run {item.key} went back to the queue: no space "
                                       f"left to start it ({err})") from err
            log.error("queued run %s cannot start: %s", item.key, err)
            self.queue.finish(item.id)
            if not isinstance(err, GitflowsError):
                raise
            return True
        self._active[item.id] = self.service.registry.record(execution.id)
        return True

    def _give_back(self, item: QueuedRun) -> None:
        """A run that cannot start for lack of space waits in the queue; if even that cannot
        be written, its lease (no longer extended) runs out and it is claimed again."""
        with contextlib.suppress(GitflowsError):
            self.queue.release(item.id, self.owner)

    def _take_over(self, item: QueuedRun) -> TakeOver:
        assert item.dead_execution is not None
        log.warning("run %s: its server died during execution %s; running it again",
                    item.key, item.dead_execution)
        return take_over(self.service.repos.history(item.repo), item.commit,
                         f"{item.namespace}.{item.flow_id}", str(item.trigger.get("type")),
                         item.dead_execution, f"flows serve@{socket.gethostname()} (take-over)")


def steps_of(service: FlowService) -> ProcessGroups | None:
    """Where the host executor records running steps (under the data dir), set up here so
    every run of this server is recorded."""
    host = service.executors.host
    if not isinstance(host, LocalExecutor):
        return None
    if host.groups is None:
        host.groups = ProcessGroups(Path(service.config.data_dir) / "steps")
    return host.groups


def stop_dead_attempt(service: FlowService, groups: ProcessGroups | None, execution_id: str) -> None:
    """Kill what a dead server's attempt still runs, before the run starts again: its host
    process groups and its containers. Without this the old step goes on next to the new."""
    if groups is not None:
        killed = groups.kill(execution_id)
        if killed:
            log.warning("execution %s: killed its steps' process groups %s left by a dead "
                        "server", execution_id, killed)
    kill = getattr(service.executors.container, "kill_execution", None)
    if kill is not None:
        try:
            removed = kill(execution_id)
        except Exception as err:  # the engine is gone: reap() at its next start cleans up
            log.error("execution %s: cannot remove its containers: %s", execution_id, err)
        else:
            if removed:
                log.warning("execution %s: removed its containers %s left by a dead server",
                            execution_id, [c[:12] for c in removed])
