"""Which served repositories' HEAD moved: the ticker and the event-trigger loop re-read a
repository's flows only then."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from runner.errors import GitflowsError
from runner.git.repo import GitRepo

log = logging.getLogger("gitflows")


def moved_heads(repos: Mapping[str, GitRepo], seen: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(name, head) of each repository whose HEAD differs from `seen`; the caller records
    the head in `seen` once it has read the flows there. Unreadable ones are logged."""
    for name, git in repos.items():
        try:
            head = git.resolve("HEAD")
        except GitflowsError as err:
            log.error("%s: %s", name, err)
            continue
        if seen.get(name) != head:
            yield name, head
