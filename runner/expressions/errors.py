"""Exception types of the expression package (no third-party imports here)."""

from __future__ import annotations


class ExpressionError(Exception):
    """A template that cannot be rendered; the message names the template."""


class PebbleSyntaxError(Exception):
    """A template that cannot be parsed; offset is the index in the template."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class EvalError(Exception):
    """A failure while evaluating (bad operand, unknown function, limit hit…)."""
