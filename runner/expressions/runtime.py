"""Per-render state and limits, and Pebble's value semantics (text, equality…).

Bounding work without sys.settrace: every construct that can repeat (a for
loop, range(), `..`) goes through code here that counts iterations and checks
a wall-clock deadline; every value a template builds is measured when built
(strings by length, lists and maps by their unfolded node count and string
characters, so sharing cannot hide a doubling), and output is counted as it is
produced. An operation whose result can be much larger than its operands
(indent, join, `~`, jq…) computes the result's size first and refuses before
building it (`fits`); one that walks a large value checks the deadline as it
goes (`poll`). No thread, signal or tracer is needed, and nothing global changes.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from runner.expressions.errors import EvalError

MAX_STRING = 1_000_000  # characters in one value and in one rendered output
MAX_NODES = 2_000_000  # unfolded items of one list/map a template builds
MAX_VALUE_CHARS = 10 * MAX_STRING  # characters of the strings in one such list/map, unfolded
MAX_MEMO = 4_000_000  # weight of measured values kept for reuse (the memo keeps them alive)
CHECK_EVERY = 4096  # items a filter or jq handles between two deadline checks
MAX_VALUE_DEPTH = 100  # nesting of lists/maps a template builds
MAX_ITERATIONS = 1_000_000  # loop iterations in one render
MAX_RENDER_DEPTH = 10  # nested render() calls

Clock = Callable[[], dt.datetime]


def fail_if_undefined(*values: Any) -> None:
    """The sandbox's check, imported on first use: only a template (compiled by the sandbox,
    which imports jinja2) can produce an undefined value."""
    from runner.expressions.sandbox import fail_if_undefined as check

    check(*values)


@dataclass
class State:
    deadline: float
    time_limit: float
    functions: Mapping[str, Callable[..., Any]]
    clock: Clock
    render: Callable[[str], str]
    iterations: int = 0
    emitted: int = 0
    render_depth: int = 0
    macro_depth: int = 0
    cancelled: Callable[[], bool] | None = None  # e.g. the task's timeout has fired
    stack: list[Any] = field(default_factory=list)
    sizes: dict[int, tuple[Any, int, int, int]] = field(default_factory=dict)
    memo_weight: int = 0


_STATE: ContextVar[State | None] = ContextVar("pebble_render_state", default=None)


def state() -> State:
    current = _STATE.get()
    if current is None:
        raise EvalError("expression helpers run only while rendering")
    return current


@contextmanager
def session(new: State) -> Iterator[State]:
    token = _STATE.set(new)
    try:
        yield new
    finally:
        _STATE.reset(token)


def current() -> State | None:
    return _STATE.get()


def check_time(st: State | None = None) -> None:
    st = st or state()
    if time.monotonic() > st.deadline:
        raise EvalError(f"rendering took longer than {st.time_limit:g}s")
    if st.cancelled is not None and st.cancelled():
        raise EvalError("rendering was stopped (the task timed out or was cancelled)")


def poll(index: int) -> None:
    """In a loop over many items: check the deadline every CHECK_EVERY of them."""
    if index % CHECK_EVERY == CHECK_EVERY - 1 and (st := current()) is not None:
        check_time(st)


def count_iteration(st: State) -> None:
    st.iterations += 1
    if st.iterations > MAX_ITERATIONS:
        raise EvalError(f"more than {MAX_ITERATIONS} loop iterations")
    if st.iterations % 64 == 0:
        check_time(st)


def check_length(text: str) -> str:
    if len(text) > MAX_STRING:
        raise EvalError(f"a value is longer than {MAX_STRING} characters")
    return text


def fits(size: int, what: str | None = None, limit: int = MAX_STRING) -> int:
    """Refuse a string before building it, from its computed length."""
    if size > limit:
        subject = "a value" if what is None else f"{what}: the result"
        raise EvalError(f"{subject} would be longer than {limit} characters")
    return size


def fits_nodes(size: int, what: str) -> int:
    """Refuse a list before building it, from its computed unfolded item count."""
    if size > MAX_NODES:
        raise EvalError(f"{what}: the result would have more than {MAX_NODES} items")
    return size


# -- printing -------------------------------------------------------------------
def to_text(value: Any) -> str:
    """How Kestra prints a value: maps and lists as JSON, null as nothing."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, Mapping | list | tuple):
        return to_json(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    fail_if_undefined(value)
    return check_length(str(value))


def json_default(value: Any) -> Any:
    """JSON for what json cannot encode itself; an undefined value is the error it is."""
    fail_if_undefined(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def to_json(value: Any, limit: int = MAX_STRING) -> str:
    """Compact JSON, aborted as soon as it grows past limit (shared lists unfold)."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default)
    parts: list[str] = []
    size = 0
    try:
        for chunk in encoder.iterencode(value):
            size += len(chunk)
            if size > limit:
                raise EvalError(f"a value is longer than {limit} characters as JSON")
            parts.append(chunk)
    except RecursionError:
        raise EvalError("a value is nested too deeply") from None
    return "".join(parts)


# -- sizes ----------------------------------------------------------------------
_SCALARS = frozenset((int, float, bool, type(None)))


def measure(value: Any, depth: int = 0) -> tuple[int, int, int]:
    """Unfolded node count, nesting depth and string characters of a list/map (a
    string is its length), memoised per render."""
    if isinstance(value, str):
        return 1, 0, len(value)
    if not isinstance(value, Mapping | list | tuple):
        return 1, 0, 0
    if depth > MAX_VALUE_DEPTH:
        raise EvalError(f"a value is nested more than {MAX_VALUE_DEPTH} levels deep")
    st = state()
    hit = st.sizes.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1], hit[2], hit[3]
    nodes, deepest, chars = 1 + len(value), 1 if value else 0, 0
    if isinstance(value, Mapping):
        chars = sum(len(key) for key in value if isinstance(key, str))
    if nodes > MAX_NODES:
        raise EvalError(f"a value has more than {MAX_NODES} items")
    for child in (value.values() if isinstance(value, Mapping) else value):
        kind = type(child)
        if kind in _SCALARS:  # the common case first: isinstance on an ABC is slow
            continue
        if kind is str or isinstance(child, str):
            chars += len(child)
        elif isinstance(child, Mapping | list | tuple):
            count, inner, text = measure(child, depth + 1)
            nodes, chars = nodes + count - 1, chars + text
            deepest = max(deepest, inner + 1)
            if nodes > MAX_NODES:
                raise EvalError(f"a value has more than {MAX_NODES} items")
        if chars > MAX_VALUE_CHARS:
            raise EvalError(f"a value holds more than {MAX_VALUE_CHARS} characters of text")
    if deepest + depth > MAX_VALUE_DEPTH:
        raise EvalError(f"a value is nested more than {MAX_VALUE_DEPTH} levels deep")
    if len(st.sizes) % 4096 == 0:
        check_time(st)
    # The memo keeps what it measured alive: drop it rather than let it grow with the
    # render (a sibling measured just before still hits, so sharing stays linear).
    st.memo_weight += nodes + chars
    if st.memo_weight > MAX_MEMO:
        st.sizes.clear()
        st.memo_weight = nodes + chars
    st.sizes[id(value)] = (value, nodes, deepest, chars)
    return nodes, deepest, chars


def built(value: Any) -> Any:
    """A value the template just built: refuse it if it is too big."""
    if isinstance(value, str):
        return check_length(value)
    if isinstance(value, Mapping | list | tuple):
        measure(value)
    return value


# -- comparisons and truth --------------------------------------------------------
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equals(a: Any, b: Any) -> bool:
    """Pebble's ==: numbers by value, otherwise Java equals (true is not 1)."""
    fail_if_undefined(a, b)
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(equals(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equals(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def truthy(value: Any) -> bool:
    """Condition value of if/ternary/and/or/not (strict about undefined)."""
    fail_if_undefined(value)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false")
    if is_number(value):
        return bool(value != 0)
    return bool(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


_FALSY = frozenset({"false", "0", "-0", ""})


def is_truthy(value: Any) -> bool:
    """Kestra's truth rule (runIf, If, WaitFor): false only for false, 0, -0, empty and null."""
    return value is not None and str(value).strip().lower() not in _FALSY
