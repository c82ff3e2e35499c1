"""Renderer: Pebble templates rendered on jinja2's sandbox with Pebble's behaviour.

Strict: an undefined variable is an error, as in Kestra (except under `??`,
`???`, `is defined` and `default`). Maps and lists print as JSON, booleans as
true/false, null as nothing. Output size and render time are bounded: one
deadline covers a whole render() call (every string of a task's properties), and
the caller may shorten it (`time_limit`, e.g. what is left of a task's timeout)
or stop it (`cancelled`, e.g. the task's cancel event). Every failure is an
ExpressionError naming the template.

Functions such as secret(), read() or kv() come from the caller, either for
every render (Renderer(functions=…)) or for one (render(…, functions=…));
now() reads the clock given to the Renderer.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from runner.expressions.errors import EvalError, ExpressionError, PebbleSyntaxError
from runner.expressions.runtime import MAX_STRING, State, check_time, session
from runner.expressions.text import is_template

if TYPE_CHECKING:
    from runner.expressions.sandbox import Compiled, Sandbox

MAX_OUTPUT = MAX_STRING  # characters per rendered value
TIME_LIMIT = 5.0  # seconds of wall-clock time per render() call

_Budget = tuple[float, float, Callable[[], bool] | None]  # deadline, its limit, cancelled


def _system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


__all__ = ["Deferred", "Renderer", "clip", "describe", "is_template"]


class Deferred:
    """A context value made only if a template names it: e.g. every task run's state, which
    costs as much as the run is long and which most templates never read."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make: Callable[[], Any] | None = make
        self._made: Any = None

    def value(self) -> Any:
        if self._make is not None:
            self._made, self._make = self._make(), None
        return self._made


def _bind(context: Mapping[str, Any], text: str) -> dict[str, Any]:
    """The template's variables (prefixed, as the translated template names them); a
    Deferred value is made only when the text names its key."""
    bound = {}
    for key, value in context.items():
        if isinstance(key, str):
            if isinstance(value, Deferred):
                if key not in text:
                    continue
                value = value.value()
            bound[f"v_{key}"] = value
    return bound


class Renderer:
    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None, *,
                 clock: Callable[[], dt.datetime] | None = None,
                 time_limit: float = TIME_LIMIT, max_output: int = MAX_OUTPUT) -> None:
        self.functions = dict(functions or {})
        self.clock = clock or _system_clock
        self.time_limit = time_limit
        self.max_output = min(max_output, MAX_OUTPUT)
        self._sandbox: Sandbox | None = None  # built on the first template (imports jinja2)
        self._compile = lru_cache(maxsize=4096)(self._compile_uncached)

    def render(self, value: Any, context: Mapping[str, Any],
               functions: Mapping[str, Callable[..., Any]] | None = None, *,
               time_limit: float | None = None,
               cancelled: Callable[[], bool] | None = None) -> Any:
        """Render every string in value (recursively through lists and maps, keys too),
        all within one deadline: the renderer's time limit, or time_limit if shorter."""
        limit = self.time_limit if time_limit is None else max(0.0, min(time_limit, self.time_limit))
        deadline = time.monotonic() + limit
        return self._walk(value, context, functions, (deadline, limit, cancelled))

    def _walk(self, value: Any, context: Mapping[str, Any],
              functions: Mapping[str, Callable[..., Any]] | None, budget: _Budget) -> Any:
        if isinstance(value, str):
            return self._render_text(value, context, functions, budget)
        if isinstance(value, list):
            return [self._walk(v, context, functions, budget) for v in value]
        if isinstance(value, dict):
            return {self._walk(k, context, functions, budget): self._walk(v, context, functions, budget)
                    for k, v in value.items()}
        return value

    def render_text(self, text: str, context: Mapping[str, Any],
                    functions: Mapping[str, Callable[..., Any]] | None = None, *,
                    time_limit: float | None = None,
                    cancelled: Callable[[], bool] | None = None) -> str:
        result = self.render(text, context, functions, time_limit=time_limit, cancelled=cancelled)
        assert isinstance(result, str)
        return result

    def _render_text(self, text: str, context: Mapping[str, Any],
                     functions: Mapping[str, Callable[..., Any]] | None, budget: _Budget) -> str:
        if not is_template(text):
            return text
        deadline, limit, cancelled = budget
        state = State(deadline=deadline, time_limit=limit,
                      functions={**self.functions, **(functions or {})}, clock=self.clock,
                      render=lambda nested: self._nested(nested, context), cancelled=cancelled)
        with session(state):
            return self._render(text, _bind(context, text))

    def _nested(self, text: str, context: Mapping[str, Any]) -> str:
        return self._render(text, _bind(context, text)) if is_template(text) else text

    def _compile_uncached(self, text: str) -> Compiled:
        from runner.expressions.parser import parse_template
        from runner.expressions.translate import translate

        if self._sandbox is None:
            from runner.expressions.helpers import HELPERS, finalize
            from runner.expressions.sandbox import Sandbox

            self._sandbox = Sandbox(HELPERS, finalize)
        source, constants = translate(parse_template(text))
        return self._sandbox.compile(source, constants)

    def _render(self, text: str, variables: Mapping[str, Any]) -> str:
        try:
            check_time()  # an earlier string of the same render() may have used the time up
            compiled = self._compile(text)
            out: list[str] = []
            size = 0
            for chunk in compiled.iterate(variables):
                size += len(chunk)
                if size > self.max_output:
                    raise EvalError(f"the output is longer than {self.max_output} characters")
                out.append(chunk)
            return "".join(out)
        except PebbleSyntaxError as err:
            raise ExpressionError(f"invalid expression '{clip(text)}': {describe(err, text)}") from None
        except EvalError as err:
            raise ExpressionError(f"cannot render '{clip(text)}': {err}") from None
        except RecursionError:
            raise ExpressionError(f"cannot render '{clip(text)}': nested too deeply") from None
        except ExpressionError:
            raise
        except Exception as err:  # a Python error from an operand; never escape as such
            raise ExpressionError(f"cannot render '{clip(text)}': {type(err).__name__}: {err}") from None


def describe(err: PebbleSyntaxError, text: str) -> str:
    line = text.count("\n", 0, err.offset) + 1
    column = err.offset - (text.rfind("\n", 0, err.offset) + 1) + 1
    return f"{err.message} (line {line}, column {column})" if "\n" in text else \
        f"{err.message} (column {column})"


def clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
