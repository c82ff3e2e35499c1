"""Option choices whose values live in heavier modules, loaded only when a command's
--help or arguments need them, not when `flows` starts (issue 21, cold start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


class LazyChoice(click.Choice[str]):
    """A click.Choice whose values a loader returns on first use."""

    def __init__(self, load: Callable[[], tuple[str, ...]]) -> None:
        self._load = load
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return self._load()

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # click.Choice.__init__ assigns it: the loader stays the source


def _executors() -> tuple[str, ...]:
    from runner.executors.choose import CHOICES

    return CHOICES


def _forges() -> tuple[str, ...]:
    from runner import forges

    return forges.NAMES


EXECUTORS = LazyChoice(_executors)  # --executor: auto, each container engine, process
FORGES = LazyChoice(_forges)  # --provider: the forges with a commit-status API
