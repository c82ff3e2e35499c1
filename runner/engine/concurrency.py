"""Flow concurrency slots (Kestra's `concurrency: {limit, behavior}`), shared by engines.

Kestra's limit is global to a flow: at most `limit` executions of it hold a slot at once,
from RUNNING until a terminal state (PAUSED keeps its slot). An extra one waits QUEUED
(QUEUE), or ends CANCELLED / FAILED without running a task (CANCEL / FAIL).

One FlowSlots lives per process (`flows serve` hands it to every Engine it builds), so
the limit holds across all runs there. Queued holders get a slot in arrival order: a
release hands its slot to the head of the queue, so a newcomer never jumps ahead.
Across `flows worker` processes the ledger lives in Redis (webhooks/scale/slots.py).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

POLL_SECONDS = 0.05  # how soon a waiter notices its cancel token (tokens cannot notify us)


class Admission(Enum):
    GRANTED = "GRANTED"  # holds a slot now
    QUEUED = "QUEUED"  # in line; wait() until granted
    REJECTED = "REJECTED"  # full and not queueing (CANCEL / FAIL)


class Cancelled(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class SlotView:
    """One key's holders, for tests and diagnostics: running, then waiting in order."""
    running: tuple[str, ...]
    waiting: tuple[str, ...]


@dataclass
class _Line:
    running: set[str] = field(default_factory=set)
    waiting: deque[tuple[str, int]] = field(default_factory=deque)  # holder, its limit


class SlotLedger(Protocol):
    """Where a flow's slots are counted: FlowSlots in one process, a shared store (Redis)
    across `flows worker` processes. Keys are (scope, namespace.flowId) tuples."""

    def acquire(self, key: Hashable, holder: str, limit: int, *, queue: bool) -> Admission: ...

    def wait(self, key: Hashable, holder: str, cancelled: Cancelled | None = None) -> bool: ...

    def release(self, key: Hashable, holder: str) -> None: ...


class FlowSlots:
    """Thread-safe ledger: key (e.g. repo + namespace.flowId) → holders of its slots."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._lines: dict[Hashable, _Line] = {}

    def acquire(self, key: Hashable, holder: str, limit: int, *, queue: bool) -> Admission:
        """Take a slot, or join the line (queue=True), or be turned away."""
        with self._changed:
            line = self._lines.setdefault(key, _Line())
            if holder in line.running:
                return Admission.GRANTED
            if not line.waiting and len(line.running) < limit:
                line.running.add(holder)
                return Admission.GRANTED
            if not queue:
                self._forget_if_idle(key, line)
                return Admission.REJECTED
            line.waiting.append((holder, limit))
            return Admission.QUEUED

    def wait(self, key: Hashable, holder: str, cancelled: Cancelled | None = None) -> bool:
        """Block until holder (queued) holds a slot: True; or until cancelled: False, and
        holder has left the line (or given back a slot granted at the same moment)."""
        with self._changed:
            while True:
                line = self._lines.get(key)
                if line is None:
                    return False
                granted = holder in line.running
                if cancelled is not None and cancelled.is_set():
                    if granted:
                        self._release(key, line, holder)
                    else:
                        self._leave(key, line, holder)
                    return False
                if granted:
                    return True
                if all(h != holder for h, _ in line.waiting):
                    return False  # left the line (cancel()) from another thread
                self._changed.wait(POLL_SECONDS)

    def release(self, key: Hashable, holder: str) -> None:
        """Give back holder's slot; the head of the line (if any) gets it."""
        with self._changed:
            line = self._lines.get(key)
            if line is not None:
                self._release(key, line, holder)

    def cancel(self, key: Hashable, holder: str) -> bool:
        """Take a queued holder out of the line; False if it was not waiting."""
        with self._changed:
            line = self._lines.get(key)
            return line is not None and self._leave(key, line, holder)

    def view(self, key: Hashable) -> SlotView:
        with self._changed:
            line = self._lines.get(key, _Line())
            return SlotView(tuple(sorted(line.running)), tuple(h for h, _ in line.waiting))

    # -- under the lock -------------------------------------------------------------
    def _release(self, key: Hashable, line: _Line, holder: str) -> None:
        line.running.discard(holder)
        self._promote(key, line)

    def _promote(self, key: Hashable, line: _Line) -> None:
        # hand slots to the line in order; each waiter's own limit (its flow revision) counts
        while line.waiting and len(line.running) < line.waiting[0][1]:
            line.running.add(line.waiting.popleft()[0])
        self._forget_if_idle(key, line)
        self._changed.notify_all()

    def _leave(self, key: Hashable, line: _Line, holder: str) -> bool:
        before = len(line.waiting)
        line.waiting = deque(w for w in line.waiting if w[0] != holder)
        left = len(line.waiting) != before
        if left:
            self._promote(key, line)  # the new head may fit now (a smaller limit ahead left)
        return left

    def _forget_if_idle(self, key: Hashable, line: _Line) -> None:
        if not line.running and not line.waiting:
            self._lines.pop(key, None)
