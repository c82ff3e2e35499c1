"""A background loop on a daemon thread: the poller, ticker, dispatcher and queue worker."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("gitflows")
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 10.0  # between rounds while they keep failing (a full disk, a lost engine)


class Background:
    """Calls `round()` until stopped; a round that fails is logged and never ends the loop.
    When a round found nothing to do, `idle()` waits (for a signal or a while). Rounds that
    keep failing the same way are logged once and retried less and less often, so a full
    disk is one clear line in the log, not one a round."""

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
        failing: tuple[type[Exception], str] | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                busy = self.round()
            except Exception as err:  # the loop must outlive one bad round
                if (type(err), str(err)) != failing:
                    log.error("%s: %s", self.name, err)
                failing, failures = (type(err), str(err)), failures + 1
                backoff = min(FIRST_BACKOFF_SECONDS * 2 ** min(failures, 10), MAX_BACKOFF_SECONDS)
                self._stopping.wait(max(backoff, self.interval))
                continue
            if failing is not None:
                log.info("%s: working again after %d failed round(s)", self.name, failures)
                failing, failures = None, 0
            if not busy and not self._stopping.is_set():
                self.idle()

    def round(self) -> bool:
        """One unit of work; True when there may be more to do at once."""
        raise NotImplementedError

    def idle(self) -> None:
        self._stopping.wait(self.interval)

    def wake(self) -> None:
        """Cut an idle wait short (stop calls it)."""
