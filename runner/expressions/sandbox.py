"""The jinja2 side: the sandboxed environment, the strict undefined, compiling.

The only module that imports jinja2. The Jinja source it compiles is generated
by translate.py, never written by users: user names arrive prefixed `v_`, all
literals live in a constants table `_k`, and every operation is a call to a
helper from runtime.py. The environment has no globals, filters or tests of
Jinja's own, refuses every Python attribute, and has no loader (no include,
import or extends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runner.expressions.errors import EvalError


class PebbleUndefined(StrictUndefined):
    """Strict: printing, testing, comparing or iterating it is an error."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        if isinstance(name, str) and name.startswith("v_"):
            name = name[2:]
        return f"'{name}' is undefined"


def undefined(hint: str) -> Any:
    return PebbleUndefined(hint=hint)


def is_undefined(value: Any) -> bool:
    return isinstance(value, Undefined)


def first_undefined(*values: Any) -> Any:
    """The first undefined among values, or None."""
    return next((value for value in values if isinstance(value, Undefined)), None)


def fail_if_undefined(*values: Any) -> None:
    for value in values:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()


@pass_context
def context_variables(context: Any) -> dict[str, Any]:
    """Pebble's `_context` / printContext(): the template's variables by their own names."""
    return {name[2:]: value for name, value in context.get_all().items()
            if isinstance(name, str) and name.startswith("v_") and not is_undefined(value)}


def is_template_error(err: BaseException) -> bool:
    return isinstance(err, TemplateError)


class _Environment(ImmutableSandboxedEnvironment):
    # Generated source does arithmetic through runtime helpers, which size results
    # first; Jinja's own operators (`'a' * 10**9`) must never run on user values.
    intercepted_binops = frozenset(("+", "-", "*", "/", "//", "%", "**"))
    intercepted_unops = frozenset(("+", "-"))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False  # generated templates read data through helpers only

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        raise EvalError(f"operator '{operator}' is not available here")

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        raise EvalError(f"operator '{operator}' is not available here")


class Compiled:
    """A compiled template; iterate() yields output chunks."""

    def __init__(self, template: Any) -> None:
        self._template = template

    def iterate(self, context: Mapping[str, Any]) -> Iterator[str]:
        try:
            yield from self._template.generate(context)
        except TemplateError as err:
            raise EvalError(err.message or type(err).__name__) from None


class Sandbox:
    def __init__(self, helpers: Mapping[str, Callable[..., Any]],
                 finalize: Callable[[Any], Any]) -> None:
        self.env = _Environment(undefined=PebbleUndefined, autoescape=False,
                                keep_trailing_newline=True, finalize=finalize, cache_size=0)
        self.env.globals.clear()
        self.env.filters.clear()
        self.env.tests.clear()
        self.env.globals.update(helpers)

    def compile(self, source: str, constants: Sequence[Any]) -> Compiled:
        try:
            return Compiled(self.env.from_string(source, globals={"_k": tuple(constants)}))
        except TemplateError as err:  # generated source is valid; only limits end here
            raise EvalError(f"cannot compile: {err.message}") from None
        except (RecursionError, MemoryError, SyntaxError):
            raise EvalError("expression is nested too deeply") from None
