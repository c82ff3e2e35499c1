"""Exceptions that carry the exit code and message the CLI shows.

User errors (bad input, bad flow) exit 2; a failed run is not an exception but
an Outcome, and the CLI maps it to exit 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.diagnostics import Diagnostic


class GitflowsError(Exception):
    """Base class: an error a user can act on, with the exit code to use."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(GitflowsError):
    """Wrong command-line usage or input values."""


class InvalidFlowError(GitflowsError):
    """The flow did not validate; carries the diagnostics."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class ExecutorUnavailableError(GitflowsError):
    """The requested executor (e.g. a Docker engine) cannot be reached."""
