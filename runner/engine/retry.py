"""Kestra retry policies: constant, exponential, random."""

from __future__ import annotations

import random

from runner.model import Retry


def next_delay(retry: Retry | None, attempts: int, elapsed: float) -> float | None:
    """Seconds to wait before attempt `attempts + 1`, or None when retries are spent.

    maxAttempts counts every attempt, the first one included; maxDuration bounds
    the time from the first attempt's start to the next attempt's start.
    """
    if retry is None:
        return None
    if retry.max_attempts is not None and attempts >= retry.max_attempts:
        return None
    base = retry.interval.total_seconds() if retry.interval else 1.0
    if retry.type == "exponential":
        delay = base * (retry.delay_factor or 2.0) ** (attempts - 1)
        if retry.max_interval:
            delay = min(delay, retry.max_interval.total_seconds())
    elif retry.type == "random":
        low = retry.min_interval.total_seconds() if retry.min_interval else 0.0
        high = retry.max_interval.total_seconds() if retry.max_interval else base
        delay = random.uniform(low, max(low, high))
    else:
        delay = base
    if retry.max_duration is not None and elapsed + delay > retry.max_duration.total_seconds():
        return None
    if retry.max_attempts is None and retry.max_duration is None:
        return None  # Kestra requires a bound; without one, do not retry forever
    return delay
