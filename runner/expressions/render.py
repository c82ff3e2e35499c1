"""Rendering on jinja2's sandbox with Pebble's observable behaviour.

Strict: an undefined variable is an error, as in Kestra. Maps and lists print
as JSON, booleans as true/false, null as nothing. Output size is bounded.
The only module that imports jinja2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 1_000_000  # characters per rendered value


class ExpressionError(Exception):
    """A template that cannot be rendered; the message names the template."""


def _finalize(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, separators=(",", ":"))
    return value


class Renderer:
    def __init__(self) -> None:
        self.env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
            finalize=_finalize,
        )
        self.env.filters["json"] = self.env.filters["toJson"] = lambda v: json.dumps(v, default=str)
        self._compile = lru_cache(maxsize=4096)(self.env.from_string)

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Render every string in value (recursively through lists and maps)."""
        if isinstance(value, str):
            return self.render_text(value, context)
        if isinstance(value, list):
            return [self.render(v, context) for v in value]
        if isinstance(value, dict):
            return {k: self.render(v, context) for k, v in value.items()}
        return value

    def render_text(self, text: str, context: Mapping[str, Any]) -> str:
        if "{{" not in text and "{%" not in text:
            return text
        try:
            out = self._compile(text).render(context)
        except TemplateError as err:
            raise ExpressionError(f"cannot render '{_clip(text)}': {err}") from None
        except (ArithmeticError, TypeError, ValueError) as err:
            raise ExpressionError(f"cannot render '{_clip(text)}': {err}") from None
        if len(out) > MAX_OUTPUT:
            raise ExpressionError(f"'{_clip(text)}' renders more than {MAX_OUTPUT} characters")
        return out


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
