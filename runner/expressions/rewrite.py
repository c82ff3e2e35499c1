"""Filters that rewrite text and can grow it a lot: indent, replace, escapeChar, split.

Each computes the size of its result from its operands' lengths and refuses it
before building it (`'x' | indent(10**9)` must not allocate gigabytes first);
the ones that walk lists and maps count what they copy. Regular expressions
run on RE2 (regex.py), in time linear in the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.expressions.errors import EvalError
from runner.expressions.regex import compile_pattern
from runner.expressions.runtime import (
    MAX_STRING,
    MAX_VALUE_CHARS,
    fits,
    fits_nodes,
    poll,
    to_text,
)

Filter = Callable[..., Any]
REWRITE_FILTERS: dict[str, Filter] = {}


def _register(*names: str) -> Callable[[Filter], Filter]:
    def add(fn: Filter) -> Filter:
        for name in names:
            REWRITE_FILTERS[name] = fn
        return fn
    return add


def strings(fn: Callable[..., Any]) -> Filter:
    """A filter on text: null passes through, anything else is printed first."""
    def apply(value: Any, *args: Any, **named: Any) -> Any:
        return None if value is None else fn(to_text(value), *args, **named)
    return apply


@_register("escapeChar")
def _escape_char(value: Any, type: Any = None) -> Any:
    kind = str(type).lower()
    swaps = {"single": ("'", "\\'"), "double": ('"', '\\"'), "shell": ("'", "'\\''")}
    if kind not in swaps:
        raise EvalError("escapeChar: type must be 'single', 'double' or 'shell'")
    old, new = swaps[kind]

    def one(text: str) -> str:
        fits(len(text) + text.count(old) * (len(new) - len(old)), "escapeChar")
        return text.replace(old, new)
    return _walkstrings(value, one, "escapeChar")


def _walkstrings(value: Any, one: Callable[[str], str], name: str) -> Any:
    """value with one() applied to every string in it (lists and maps are copied):
    the copy is as large as value unfolded, so it is counted as it is made."""
    made = [0, 0]  # items, characters

    def walk(item: Any) -> Any:
        made[0] += 1
        poll(made[0])
        fits_nodes(made[0], name)
        if isinstance(item, Mapping):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        if item is None:
            return None
        text = one(to_text(item))
        made[1] += len(text)
        fits(made[1], name, MAX_VALUE_CHARS)
        return text
    return walk(value)


@_register("replace")
def _replace(value: Any, replace_pairs: Any = None, regexp: Any = False) -> Any:
    if not isinstance(replace_pairs, Mapping):
        raise EvalError("replace: the argument must be a map like {'old': 'new'}")
    pairs = [(to_text(k), to_text(v)) for k, v in replace_pairs.items()]
    compiled = [(compile_pattern(k), v) for k, v in pairs] if regexp else []

    def one(text: str) -> str:
        if regexp:
            for pattern, new in compiled:
                matches = 0
                for matches, _ in enumerate(pattern.finditer(text), 1):
                    poll(matches)
                if len(text) + matches * len(new) > MAX_STRING:
                    raise EvalError("replace: the result is too long")
                text = pattern.sub(lambda _m, n=new: n, text)
            return text
        for old, new in pairs:
            if old and (text.count(old) * max(0, len(new) - len(old)) + len(text)) > MAX_STRING:
                raise EvalError("replace: the result is too long")
            text = text.replace(old, new) if old else text
        return text
    return _walkstrings(value, one, "replace")


@_register("split")
@strings
def _split(text: str, delimiter: Any, limit: int = 0) -> list[str]:
    """Java's String.split: a positive limit caps the parts, 0 drops trailing empty ones,
    a zero-width match at the start makes no empty first part, groups are not returned."""
    pattern = compile_pattern(to_text(delimiter))
    parts: list[str] = []
    last = 0
    for count, match in enumerate(pattern.finditer(text), 1):
        poll(count)
        if 0 < limit <= len(parts) + 1:
            break
        if match.end() == 0:
            continue
        parts.append(text[last:match.start()])
        last = match.end()
    parts.append(text[last:])
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def _indent_filter(first_line: bool) -> Filter:
    @strings
    def apply(text: str, amount: int, prefix: Any = " ") -> str:
        unit, count = to_text(prefix), max(0, int(amount))
        name = "nindent" if first_line else "indent"
        lines = text.split("\n")
        padded = sum(1 for i, line in enumerate(lines) if line and (i or first_line))
        # The pad alone can be huge ('x' * 10**9): size it from the lengths first.
        fits(len(text) + first_line + padded * count * len(unit), name)
        pad = unit * count if padded else ""
        indented = [(pad + line) if (i or first_line) and line else line for i, line in enumerate(lines)]
        return ("\n" if first_line else "") + "\n".join(indented)
    return apply


REWRITE_FILTERS["indent"] = _indent_filter(first_line=False)
REWRITE_FILTERS["nindent"] = _indent_filter(first_line=True)
