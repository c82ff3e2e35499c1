"""What the forge modules share to speak a commit-status API: a run's outcome in forge-neutral
words, and the request to send (built purely, so it is tested without a network)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runner.events import State

__all__ = ["Outcome", "Request", "StatusTarget", "outcome_of", "repo_path"]


class Outcome(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


def outcome_of(state: State) -> Outcome:
    if state in (State.CREATED, State.QUEUED):
        return Outcome.PENDING
    if state in (State.SUCCESS,):
        return Outcome.SUCCESS
    if state is State.WARNING:
        return Outcome.WARNING
    if state in (State.KILLED, State.CANCELLED):
        return Outcome.CANCELLED
    if state is State.SKIPPED:
        return Outcome.SKIPPED
    if state.terminal or state is State.FAILED:
        return Outcome.FAILURE
    return Outcome.RUNNING  # RUNNING, PAUSED, KILLING, RETRYING, RESTARTED


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class StatusTarget:
    """One commit status to set: the API root (with its prefix), repository, commit, name."""

    base: str
    repo: str  # owner/name (GitLab: the project's path with namespace)
    sha: str
    context: str  # flows/<namespace>.<id>
    target_url: str | None = None


def repo_path(repo: str) -> str:
    """owner/name with each part quoted for a URL path."""
    owner, _, name = repo.partition("/")
    return f"{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"
