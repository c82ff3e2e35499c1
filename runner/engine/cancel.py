"""Cancellation that nests: killing a run, or timing out a task, stops everything below it."""

from __future__ import annotations

import threading
import time

POLL_SECONDS = 0.02


class CancelToken(threading.Event):
    """An Event that also counts as set when any ancestor is set."""

    def __init__(self, parent: threading.Event | None = None, *,
                 deadline: float | None = None) -> None:
        """deadline: the time.monotonic() at which a timeout cancels it (None: no timeout)."""
        super().__init__()
        self.parent = parent
        self.reason: str | None = None
        self.deadline = deadline

    def is_set(self) -> bool:
        return super().is_set() or (self.parent is not None and self.parent.is_set())

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self.parent is None:
            return super().wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            super().wait(POLL_SECONDS if left is None else min(POLL_SECONDS, left))
        return True
