"""Built-in functions: now, range, max, min, fromJson, yaml, fromIon, render, uuid, id,
randomInt, randomPort, currentEachOutput (printContext and block are in translate.py).

secret(), read(), kv() and the like are not here: the caller passes them
(Renderer(functions=…) or render(…, functions=…)), so this package never
touches secrets, files or the network itself.
"""

from __future__ import annotations

import json
import random
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from runner.expressions import dates, formats
from runner.expressions.errors import EvalError
from runner.expressions.moments import MOMENT_FUNCTIONS
from runner.expressions.runtime import (
    MAX_RENDER_DEPTH,
    check_length,
    is_number,
    state,
    to_text,
    type_name,
)

Function = Callable[..., Any]
MAX_RANGE = 1_000_000


def now(format: Any = "iso", timeZone: Any = None, existingFormat: Any = None,
        locale: Any = None) -> str:
    tz = dates.zone(timeZone)
    moment = state().clock()
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dates.zone(None))
    return dates.format_date(moment.astimezone(tz), to_text(format))


def inclusive_range(start: Any, end: Any, increment: Any = 1) -> list[int]:
    """Pebble's range: both ends included, at most MAX_RANGE numbers (as Kestra)."""
    for name, value in (("start", start), ("end", end), ("increment", increment)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise EvalError(f"range: {name} must be an integer, not {type_name(value)}")
    if increment == 0:
        raise EvalError("range: the increment cannot be 0")
    size = 0 if (end - start) * increment < 0 else abs(end - start) // abs(increment) + 1
    if size > MAX_RANGE:
        raise EvalError(f"range: would produce {size} numbers, more than {MAX_RANGE}")
    return list(range(start, end + (1 if increment > 0 else -1), increment))


def _extreme(pick: Callable[..., Any]) -> Function:
    def apply(*values: Any) -> Any:
        if not values:
            raise EvalError("max/min need at least one value")
        if all(is_number(v) for v in values) or all(isinstance(v, str) for v in values):
            return pick(values)
        raise EvalError("max/min compare numbers or strings")
    return apply


def from_json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(check_length(to_text(value)))
    except ValueError as err:
        raise EvalError(f"fromJson: not valid JSON: {err}") from None


def render(value: Any, recursive: Any = True) -> Any:
    """Render a string holding an expression (Kestra's render()), with the same variables."""
    if not isinstance(value, str):
        return value
    st = state()
    if st.render_depth >= MAX_RENDER_DEPTH:
        raise EvalError(f"render() is nested more than {MAX_RENDER_DEPTH} levels deep")
    st.render_depth += 1
    try:
        result = st.render(value)
        for _ in range(MAX_RENDER_DEPTH):
            if not recursive or result == value:
                break
            value, result = result, st.render(result)
        return result
    finally:
        st.render_depth -= 1


def random_int(lower: Any, upper: Any) -> int:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lower, upper)) or lower >= upper:
        raise EvalError("randomInt: needs two integers, lower < upper")
    return random.randrange(lower, upper)


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def short_id() -> str:
    """Kestra's id(): a random UUID in base 62 (22 characters)."""
    number, digits = uuid.uuid4().int, []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits)).rjust(22, "0")


def ksuid() -> str:
    """A K-Sortable Unique ID: 4 bytes of seconds since 2014-05-13, 16 random, base 62."""
    number = (int(time.time()) - 1_400_000_000) << 128 | random.getrandbits(128)
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits)).rjust(27, "0")


_NANO_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def nano_id(length: Any = 21, alphabet: Any = _NANO_ALPHABET) -> str:
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= 1000:
        raise EvalError("nanoId: the length must be an integer from 1 to 1000")
    letters = str(alphabet)
    if not letters:
        raise EvalError("nanoId: the alphabet is empty")
    return "".join(secrets.choice(letters) for _ in range(length))


def random_port() -> int:
    """A TCP port free on this machine right now (Kestra's randomPort())."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def current_each_output(outputs: Any, context: Any) -> Any:
    """Kestra's currentEachOutput(outputs.t): t's output for the current value of each
    enclosing ForEach (outermost first), then of this task run. A level whose value is
    not a key is passed over (a parent may carry this task run's own value)."""
    if not isinstance(outputs, dict):
        raise EvalError("currentEachOutput: the argument must be a map of outputs (outputs.<task>)")
    values = [p.get("taskrun", {}).get("value") for p in reversed(context.get("parents") or [])
              if isinstance(p, dict) and isinstance(p.get("taskrun"), dict)]
    values.append((context.get("taskrun") or {}).get("value"))
    found = False
    for value in values:
        if isinstance(outputs, dict) and isinstance(value, str) and value in outputs:
            outputs, found = outputs[value], True
    if not found:
        raise EvalError(f"currentEachOutput: no output for the current value {values[-1]!r}")
    return outputs


BUILTINS: dict[str, Function] = {
    "now": now,
    "range": inclusive_range,
    "max": _extreme(max),
    "min": _extreme(min),
    "fromJson": from_json,
    "json": from_json,
    "jsonDecode": from_json,
    "render": render,
    "renderOnce": lambda value: render(value, recursive=False),
    "uuid": lambda: str(uuid.uuid4()),
    "randomInt": random_int,
    "randomPort": random_port,
    "id": short_id,
    "yaml": formats.from_yaml,
    "fromIon": formats.from_ion,
    "currentEachOutput": current_each_output,
    "ksuid": ksuid,
    "nanoId": nano_id,
    **MOMENT_FUNCTIONS,
}
