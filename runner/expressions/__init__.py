"""Pebble-compatible expressions (`{{ inputs.name }}`), rendered in a sandbox.

Light on import: the parser, the helpers and jinja2 load on the first template, so a flow
without any (or `flows --help`) never pays for them (issue 21, cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.expressions.errors import ExpressionError
from runner.expressions.text import is_template

if TYPE_CHECKING:
    from runner.expressions.render import Renderer

__all__ = ["ExpressionError", "Renderer", "references", "syntax_error"]


def references(text: str) -> list[tuple[str, ...]]:
    """Attribute paths of the variables text reads, e.g. ('outputs', 'task1', 'value')."""
    if not is_template(text):
        return []
    from runner.expressions.refs import references as read

    return read(text)


def syntax_error(text: str) -> str | None:
    """Why text is not a valid template, or None."""
    if not is_template(text):
        return None
    from runner.expressions.refs import syntax_error as check

    return check(text)


def __getattr__(name: str) -> Any:
    if name == "Renderer":
        from runner.expressions.render import Renderer

        return Renderer
    raise AttributeError(f"module 'runner.expressions' has no attribute {name!r}")
