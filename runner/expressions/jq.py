"""A safe subset of jq for the `jq` filter; the result is always a list (as in Kestra).

Supported: `.`, `.a.b`, `."key"`, `.["key"]`, `.[0]`, `.[-1]`, `.[1:3]`, `.[]`,
`?` after a step, `a | b`, `a, b`, parentheses, and the builtins length, keys,
first, last, add, type, tostring, tonumber, reverse, not. Anything else
(reduce, select, arithmetic, functions…) is refused rather than half-done.

Bounded: `,` and `|` multiply paths (`(.,.,.)|(.,.,.)|…` has 3^n of them, most
of which may produce nothing), so every step of every path is counted against
MAX_STEPS and the render's deadline is checked as they are taken; `add` and
`tostring` size their result before building it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runner.expressions.errors import EvalError
from runner.expressions.runtime import (
    CHECK_EVERY,
    MAX_STRING,
    check_time,
    current,
    fits,
    fits_nodes,
    poll,
    to_json,
)

MAX_RESULTS = 100_000
MAX_STEPS = 1_000_000  # steps (a value entering a stage or a path step) of one jq program
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+)|(?P<name>[A-Za-z_][\w]*)'
                    r'|(?P<op>[.\[\]:|,?()]))')
Program = Callable[[Any], Iterator[Any]]


class _Steps:
    """Counts a program's steps; checks the render's deadline every CHECK_EVERY."""

    def __init__(self) -> None:
        self.taken = 0
        self.state = current()

    def step(self) -> None:
        self.taken += 1
        if self.taken % CHECK_EVERY == 0:
            if self.taken > MAX_STEPS:
                raise EvalError(f"jq: the program takes more than {MAX_STEPS} steps")
            if self.state is not None:
                check_time(self.state)


def run(expression: str, value: Any) -> list[Any]:
    program = _Parser(expression).parse()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise EvalError(f"jq: the input is not JSON: {err}") from None
    out: list[Any] = []
    for item in program(value):
        out.append(item)
        if len(out) > MAX_RESULTS:
            raise EvalError(f"jq: more than {MAX_RESULTS} results")
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                raise EvalError(f"jq: unsupported expression '{text}'")
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0
        self.steps = _Steps()

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "")

    def take(self, value: str) -> bool:
        if self.peek() == ("op", value):
            self.i += 1
            return True
        return False

    def fail(self) -> EvalError:
        return EvalError(f"jq: unsupported expression '{self.text}'")

    def parse(self) -> Program:
        program = self.pipe()
        if self.peek()[0] != "eof":
            raise self.fail()
        return program

    def pipe(self) -> Program:
        stages = [self.comma()]
        while self.take("|"):
            stages.append(self.comma())
        step = self.steps.step

        def run_pipe(value: Any, index: int = 0) -> Iterator[Any]:
            step()
            if index == len(stages):
                yield value
                return
            for item in stages[index](value):
                yield from run_pipe(item, index + 1)

        return run_pipe

    def comma(self) -> Program:
        parts = [self.term()]
        while self.take(","):
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        step = self.steps.step

        def run_comma(value: Any) -> Iterator[Any]:
            for part in parts:
                step()
                yield from part(value)

        return run_comma

    def term(self) -> Program:
        kind, text = self.peek()
        if self.take("("):
            inner = self.pipe()
            if not self.take(")"):
                raise self.fail()
            return inner
        if kind == "name" and text in _BUILTINS:
            self.i += 1
            builtin = _BUILTINS[text]
            return lambda value: iter((builtin(value),))
        if not self.take("."):
            raise self.fail()
        steps: list[Callable[[Any], Iterator[Any]]] = []
        kind, text = self.peek()
        if kind in ("name", "str"):
            self.i += 1
            steps.append(_key(_name(kind, text)))
        while True:
            if self.take("["):
                steps.append(self.bracket())
            elif self.peek() == ("op", ".") and self.tokens[self.i + 1:self.i + 2] and \
                    self.tokens[self.i + 1][0] in ("name", "str"):
                self.i += 1
                kind, text = self.peek()
                self.i += 1
                steps.append(_key(_name(kind, text)))
            elif self.take("?") and steps:
                steps[-1] = _optional(steps[-1])
            else:
                break
        return _chain(steps, self.steps)

    def bracket(self) -> Callable[[Any], Iterator[Any]]:
        if self.take("]"):
            return _each
        kind, text = self.peek()
        if kind == "str":
            self.i += 1
            step = _key(json.loads(text))
        else:
            start = self.number()
            if self.take(":"):
                end = self.number()
                step = _slice(start, end)
            elif start is None:
                raise self.fail()
            else:
                step = _index(start)
        if not self.take("]"):
            raise self.fail()
        return step

    def number(self) -> int | None:
        kind, text = self.peek()
        if kind == "num":
            self.i += 1
            return int(text)
        return None


def _name(kind: str, text: str) -> str:
    return str(json.loads(text)) if kind == "str" else text


def _chain(steps: list[Callable[[Any], Iterator[Any]]], counter: _Steps) -> Program:
    def run_chain(value: Any, index: int = 0) -> Iterator[Any]:
        counter.step()
        if index == len(steps):
            yield value
            return
        for item in steps[index](value):
            yield from run_chain(item, index + 1)

    return run_chain


def _key(name: str) -> Callable[[Any], Iterator[Any]]:
    def step(value: Any) -> Iterator[Any]:
        if value is None:
            yield None
        elif isinstance(value, Mapping):
            yield value.get(name)
        else:
            raise EvalError(f"jq: cannot index {_type(value)} with \"{name}\"")
    return step


def _index(index: int) -> Callable[[Any], Iterator[Any]]:
    def step(value: Any) -> Iterator[Any]:
        if value is None:
            yield None
        elif isinstance(value, list | tuple):
            yield value[index] if -len(value) <= index < len(value) else None
        else:
            raise EvalError(f"jq: cannot index {_type(value)} with number")
    return step


def _slice(start: int | None, end: int | None) -> Callable[[Any], Iterator[Any]]:
    def step(value: Any) -> Iterator[Any]:
        if value is None or isinstance(value, list | tuple | str):
            yield None if value is None else value[start:end]
        else:
            raise EvalError(f"jq: cannot slice {_type(value)}")
    return step


def _each(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        yield from value.values()
    elif isinstance(value, list | tuple):
        yield from value
    else:
        raise EvalError(f"jq: cannot iterate over {_type(value)}")


def _optional(step: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    def guarded(value: Any) -> Iterator[Any]:
        try:
            yield from list(step(value))
        except EvalError:
            return
    return guarded


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else "array"


def _length(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise EvalError("jq: boolean has no length")
    if isinstance(value, int | float):
        return abs(value)
    return len(value)


def _keys(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return sorted(value)
    if isinstance(value, list | tuple):
        return list(range(len(value)))
    raise EvalError(f"jq: {_type(value)} has no keys")


def _add(value: Any) -> Any:
    items = list(value.values()) if isinstance(value, Mapping) else list(value or [])
    if not items:
        return None
    # `total + item` on strings or lists is quadratic and can repeat one long value:
    # size the sum first, then build it once.
    if all(isinstance(item, str) for item in items):
        fits(sum(map(len, items)), "jq: add", MAX_STRING)
        return "".join(items)
    if all(isinstance(item, list | tuple) for item in items):
        fits_nodes(sum(map(len, items)), "jq: add")
        return [element for item in items for element in item]
    total = items[0]
    for index, item in enumerate(items[1:]):
        poll(index)
        total = total + item
    return total


def _tonumber(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EvalError(f"jq: cannot parse '{value}' as a number") from None
    return int(number) if number.is_integer() and "." not in str(value) else number


_BUILTINS: dict[str, Callable[[Any], Any]] = {
    "length": _length,
    "keys": _keys,
    "first": lambda v: v[0] if v else None,
    "last": lambda v: v[-1] if v else None,
    "add": _add,
    "type": _type,
    "tostring": lambda v: v if isinstance(v, str) else to_json(v),
    "tonumber": _tonumber,
    "reverse": lambda v: list(reversed(v)) if v is not None else [],
    "not": lambda v: v is None or v is False,
}
