"""Waiting for events, never for time: a polling wait with a generous ceiling, and a gate a
flow's step holds on until the test has seen what it needs and opens it.

A ceiling is only a safety net for a test that would otherwise hang: waiting for the event
costs nothing on an idle machine, and a busy one (CI, `scripts/test --load`) needs the room.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CEILING = 120.0  # seconds; any wait for an event in the tests gives up only after this

# A shell line for a flow's step: wait until the gate file named by the ENV_TEST_GATE variable
# of the process that runs the flow (Kestra's `envs`) exists. Give that process `Gate.env`.
HOLD = 'while [ ! -e "{{ envs.test_gate }}" ]; do sleep 0.05; done'


def wait_until(probe: Callable[[], T], what: str, timeout: float = CEILING, interval: float = 0.05) -> T:
    """probe() once it is truthy; fails with `what` (and the last value) after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout:g}s for {what}; last: {value!r}"
        time.sleep(interval)


@dataclass(frozen=True)
class Gate:
    """A file a step waits for (`hold`, or HOLD with `env`): the test opens it when it is ready."""

    path: Path

    @property
    def hold(self) -> str:
        """A shell line that returns once the gate is open."""
        return f'while [ ! -e "{self.path}" ]; do sleep 0.05; done'

    @property
    def env(self) -> dict[str, str]:
        """The variables of a `flows` process whose flows hold with HOLD."""
        return {"ENV_TEST_GATE": str(self.path)}

    def open(self) -> None:
        self.path.touch()

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def rendezvous(path: Path, parties: int, timeout: float = CEILING) -> str:
    """A shell line that adds a line to path, then waits until it has `parties` lines: steps get
    past it only when that many run at the same time. Exits 1 after timeout (they did not)."""
    tries = int(timeout / 0.05)
    return (f'echo here >> "{path}"; i=0; while [ "$(wc -l < "{path}")" -lt {parties} ]; do '
            f'i=$((i+1)); [ "$i" -lt {tries} ] || exit 1; sleep 0.05; done')
