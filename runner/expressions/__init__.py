"""Pebble-compatible expressions (`{{ inputs.name }}`), rendered in a sandbox."""

from runner.expressions.errors import ExpressionError
from runner.expressions.refs import references, syntax_error
from runner.expressions.render import Renderer

__all__ = ["ExpressionError", "Renderer", "references", "syntax_error"]
