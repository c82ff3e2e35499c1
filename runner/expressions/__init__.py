"""Pebble-compatible expressions (`{{ inputs.name }}`), rendered in a sandbox."""

from runner.expressions.render import ExpressionError, Renderer

__all__ = ["ExpressionError", "Renderer"]
