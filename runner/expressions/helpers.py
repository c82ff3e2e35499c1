"""The functions generated templates call: data access, operators, loops, dispatch.

They are the only globals of the sandbox. Each enforces Pebble's semantics and
the render limits (runtime.py); none exposes a Python attribute or method.

An undefined operand makes the whole operation undefined (it is not an error
yet), so `??` can fall back from `missing | upper` as Pebble's does; printing,
testing in if/for, or looping over an undefined value is the error.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runner.expressions.errors import EvalError, ExpressionError
from runner.expressions.filters import FILTERS
from runner.expressions.functions import BUILTINS, inclusive_range
from runner.expressions.runtime import (
    MAX_STRING,
    built,
    check_time,
    count_iteration,
    equals,
    fits,
    fits_nodes,
    is_number,
    measure,
    poll,
    state,
    to_text,
    truthy,
    type_name,
)
from runner.expressions.sandbox import (
    context_variables,
    fail_if_undefined,
    first_undefined,
    is_template_error,
    is_undefined,
    undefined,
)


def get(obj: Any, key: Any, src: str) -> Any:
    """obj.key / obj[key]: map keys and list indexes only, never Python attributes."""
    if (missing := first_undefined(obj, key)) is not None:
        return missing
    if obj is None:
        return undefined(f"'{src}' is undefined (the value before it is null)")
    if isinstance(obj, Mapping):
        try:
            if key in obj:
                return obj[key]
        except TypeError:
            pass
        return undefined(f"'{src}' is undefined")
    if isinstance(obj, list | tuple):
        index = key if isinstance(key, int) and not isinstance(key, bool) else None
        if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 19:
            index = int(key)
        if index is not None and 0 <= index < len(obj):
            return obj[index]
        return undefined(f"'{src}' is undefined (no index {key!r} in a list of {len(obj)})")
    return undefined(f"'{src}' is undefined ({type_name(obj)} has no attribute {key!r})")


def path(obj: Any, keys: list[Any], sources: list[str]) -> Any:
    for key, src in zip(keys, sources, strict=True):
        obj = get(obj, key, src)
    return obj


def _guarded(kind: str, name: str, fn: Callable[..., Any], args: list[Any],
             named: Mapping[str, Any]) -> Any:
    check_time()
    try:
        return built(fn(*args, **named))
    except EvalError:
        raise
    except ExpressionError as err:
        raise EvalError(str(err)) from None
    except Exception as err:
        if is_template_error(err):
            raise
        message = re.sub(r"^\w+\(\) ", "", str(err)) if isinstance(err, TypeError) else str(err)
        raise EvalError(f"{kind} '{name}': {message}") from None


def call(name: str, args: list[Any], named: dict[str, Any]) -> Any:
    function = state().functions.get(name) or BUILTINS.get(name)
    if function is None:
        raise EvalError(f"unknown function '{name}'")
    if (missing := first_undefined(*args, *named.values())) is not None:
        return missing
    return _guarded("function", name, function, args, named)


def apply_filter(name: str, value: Any, args: list[Any], named: dict[str, Any]) -> Any:
    checked = [*args, *named.values()] if name == "default" else [value, *args, *named.values()]
    if (missing := first_undefined(*checked)) is not None:
        return missing
    return _guarded("filter", name, FILTERS[name], [value, *args], named)


def _is_json(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise EvalError(f"even/odd need an integer, not {type_name(value)}")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, Mapping | list | tuple) and not value


TESTS: dict[str, Callable[[Any], bool]] = {
    "defined": lambda v: not is_undefined(v),
    "null": lambda v: v is None,
    "empty": _empty,
    "even": lambda v: _integer(v) % 2 == 0,
    "odd": lambda v: _integer(v) % 2 == 1,
    "iterable": lambda v: isinstance(v, list | tuple),
    "map": lambda v: isinstance(v, Mapping),
    "json": _is_json,
}


def test(name: str, value: Any, args: list[Any]) -> Any:
    if name != "defined" and is_undefined(value):
        return value
    if args:
        raise EvalError(f"the '{name}' test takes no arguments")
    return TESTS[name](value)


_COMPARE = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


def compare(op: str, a: Any, b: Any) -> Any:
    if (missing := first_undefined(a, b)) is not None:
        return missing
    if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        return bool(_COMPARE[op](a, b))
    raise EvalError(f"cannot compare {type_name(a)} with {type_name(b)} using '{op}'")


def _number(value: Any, op: str) -> int | float:
    if is_number(value):
        return value  # type: ignore[no-any-return]
    raise EvalError(f"'{op}' needs numbers, not {type_name(value)}")


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if (missing := first_undefined(a, b)) is not None:
        return missing
    if op == "+" and (isinstance(a, str) or isinstance(b, str)):
        left, right = to_text(a), to_text(b)
        fits(len(left) + len(right))
        return left + right
    if op == "+" and isinstance(a, list | tuple):
        other = b if isinstance(b, list | tuple) else [b]
        fits_nodes(measure(a)[0] + measure(other)[0], "'+'")
        return built([*a, *other])
    x, y = _number(a, op), _number(b, op)
    if op in ("/", "%") and y == 0:
        raise EvalError("division by zero")
    if op == "+":
        result = x + y
    elif op == "-":
        result = x - y
    elif op == "*":
        result = x * y
    elif isinstance(x, int) and isinstance(y, int):  # Java long division and remainder
        quotient = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        result = quotient if op == "/" else x - y * quotient
    else:
        result = x / y if op == "/" else math.fmod(x, y)
    if isinstance(result, int) and not -(2**63) <= result < 2**63:
        raise EvalError("integer overflow (numbers are 64-bit)")
    return result


def negate(value: Any) -> Any:
    return arithmetic("-", 0, value)


def plus(value: Any) -> Any:
    return value if is_undefined(value) else _number(value, "+")


def concat(parts: list[Any]) -> Any:
    if (missing := first_undefined(*parts)) is not None:
        return missing
    texts: list[str] = []
    size = 0
    for part in parts:  # each part is at most MAX_STRING: stop at the first that overflows
        texts.append(to_text(part))
        size = fits(size + len(texts[-1]))
    return "".join(texts)


def same(a: Any, b: Any) -> Any:
    if (missing := first_undefined(a, b)) is not None:
        return missing
    return equals(a, b)


def literal(value: Any) -> Any:
    """A list or map literal; undefined if one of its items is."""
    items = [*value.keys(), *value.values()] if isinstance(value, Mapping) else value
    if (missing := first_undefined(*items)) is not None:
        return missing
    return built(value)


def contains(container: Any, item: Any) -> Any:
    if (missing := first_undefined(container, item)) is not None:
        return missing
    if container is None:
        return False
    if isinstance(container, str):
        return to_text(item) in container
    if isinstance(container, Mapping):
        try:
            return item in container
        except TypeError:
            return False
    if isinstance(container, list | tuple):
        wanted = item if isinstance(item, list | tuple) else [item]
        compared = 0
        for w in wanted:  # len(wanted) * len(container) comparisons: poll the deadline
            for c in container:
                compared += 1
                poll(compared)
                if equals(w, c):
                    break
            else:
                return False
        return True
    raise EvalError(f"'contains' needs a list, map or string, not {type_name(container)}")


def is_in(item: Any, container: Any) -> Any:
    """Kestra's `in`: a key of a map, an item (or every item of a list) of a list."""
    if isinstance(container, str):
        raise EvalError("'in' needs a list or a map on its right, not string (use 'contains')")
    return contains(container, item)


def negated(value: Any) -> Any:
    return value if is_undefined(value) else not value


def keep(value: Any, undefined_only: bool) -> bool:
    """Left side of ?? / ???: remember it and say whether to use it."""
    if is_undefined(value) or (value is None and not undefined_only):
        return False
    state().stack.append(value)
    return True


def take() -> Any:
    return state().stack.pop()


def iterate(value: Any) -> Iterator[Any]:
    fail_if_undefined(value)
    if value is None:
        items: list[Any] | tuple[Any, ...] = []
    elif isinstance(value, Mapping):
        items = [{"key": k, "value": v} for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise EvalError(f"cannot loop over {type_name(value)}")
    st = state()
    for item in items:
        count_iteration(st)
        yield item


class LoopInfo(Mapping[str, Any]):
    """Pebble's `loop`: index and revindex count from 0."""

    _KEYS = ("index", "revindex", "first", "last", "length")

    def __init__(self, loop: Any) -> None:
        self._loop = loop

    def __getitem__(self, key: str) -> Any:
        names = {"index": "index0", "revindex": "revindex0", "first": "first", "last": "last",
                 "length": "length"}
        if key not in names:
            raise KeyError(key)
        return getattr(self._loop, names[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


MAX_MACRO_DEPTH = 50


def call_macro(macro: Callable[..., Any], args: list[Any], named: dict[str, Any]) -> Any:
    """A template's macro or block: each call counts as a loop iteration (a macro that
    calls itself twice would otherwise double its work at every level)."""
    st = state()
    count_iteration(st)
    st.macro_depth += 1
    try:
        if st.macro_depth > MAX_MACRO_DEPTH:
            raise EvalError(f"macros are nested more than {MAX_MACRO_DEPTH} levels deep")
        return macro(*args, **named)
    except TypeError as err:
        raise EvalError(f"macro: {err}".replace("'m_", "'")) from None
    finally:
        st.macro_depth -= 1


def finalize(value: Any) -> str:
    text = to_text(value)
    st = state()
    st.emitted += len(text)
    if st.emitted > 2 * MAX_STRING:
        raise EvalError(f"the output is longer than {MAX_STRING} characters")
    return text


HELPERS: dict[str, Callable[..., Any]] = {
    "_path": path, "_call": call, "_filter": apply_filter, "_is": test, "_bool": truthy,
    "_eq": same, "_cmp": compare, "_math": arithmetic, "_neg": negate, "_pos": plus, "_cat": concat,
    "_contains": contains, "_in": is_in, "_not": negated, "_range": inclusive_range, "_keep": keep,
    "_take": take, "_iter": iterate, "_loop": LoopInfo, "_built": literal, "_macro": call_macro,
    "_ctx": context_variables, "_undefined": undefined,
}
