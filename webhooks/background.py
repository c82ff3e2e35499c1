"""A background loop on a daemon thread: the poller, ticker, dispatcher and queue worker."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("gitflows")


class Background:
    """Calls `round()` until stopped; a round that fails is logged and never ends the loop.
    When a round found nothing to do, `idle()` waits (for a signal or a while)."""

    name = "gitflows-background"
    interval = 1.0

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.round()
            except Exception as err:  # the loop must outlive one bad round
                log.error("%s: %s", self.name, err)
                busy = False
            if not busy and not self._stopping.is_set():
                self.idle()

    def round(self) -> bool:
        """One unit of work; True when there may be more to do at once."""
        raise NotImplementedError

    def idle(self) -> None:
        self._stopping.wait(self.interval)

    def wake(self) -> None:
        """Cut an idle wait short (stop calls it)."""
