"""Pebble's and Kestra's filters, on plain Python values.

Each filter is `f(value, *args, **named)` with Pebble's argument names. String
filters pass null through (as Pebble does). Results are measured by the caller;
a filter whose result can outgrow its input by more than a small constant factor
(indent, join, replace, chunk…) computes the result's size first and refuses it
before building it, and one that walks many items polls the deadline.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from runner.expressions import formats, jq
from runner.expressions.dates import DATE_FILTERS
from runner.expressions.errors import EvalError
from runner.expressions.regex import REGEX_FILTERS
from runner.expressions.rewrite import REWRITE_FILTERS, strings
from runner.expressions.runtime import (
    fits,
    fits_nodes,
    is_number,
    measure,
    poll,
    to_json,
    to_text,
    type_name,
)
from runner.expressions.sandbox import is_undefined

Filter = Callable[..., Any]
FILTERS: dict[str, Filter] = {}


def _register(*names: str) -> Callable[[Filter], Filter]:
    def add(fn: Filter) -> Filter:
        for name in names:
            FILTERS[name] = fn
        return fn
    return add


_strings = strings


def _collection(value: Any, name: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    raise EvalError(f"'{name}' needs a list, not {type_name(value)}")


# -- strings -----------------------------------------------------------------------
FILTERS["upper"] = _strings(str.upper)
FILTERS["lower"] = _strings(str.lower)
FILTERS["trim"] = _strings(str.strip)
FILTERS["string"] = to_text
FILTERS["capitalize"] = _strings(lambda s: s[:1].upper() + s[1:])
FILTERS["title"] = _strings(lambda s: re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), s))
_URL_SAFE = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-* "


@_register("base64encode")
@_strings
def _base64encode(text: str) -> str:
    data = text.encode()
    fits(4 * ((len(data) + 2) // 3), "base64encode")
    return base64.b64encode(data).decode("ascii")


@_register("urlencode")
@_strings
def _urlencode(text: str) -> str:
    data = text.encode()  # up to 3 characters for each UTF-8 byte (12 per character)
    fits(len(data) + 2 * len(data.translate(None, _URL_SAFE)), "urlencode")
    return urllib.parse.quote_plus(text, safe="*").replace("~", "%7E")
FILTERS["urldecode"] = _strings(urllib.parse.unquote_plus)
FILTERS["startsWith"] = _strings(lambda s, prefix: s.startswith(to_text(prefix)))
FILTERS["endsWith"] = _strings(lambda s, suffix: s.endswith(to_text(suffix)))


def _digest(algorithm: str) -> Filter:
    return _strings(lambda text: hashlib.new(algorithm, text.encode()).hexdigest())


for _algorithm in ("md5", "sha1", "sha256", "sha512"):
    FILTERS[_algorithm] = _digest(_algorithm)


@_register("base64decode")
@_strings
def _base64decode(text: str) -> str:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode()
    except (ValueError, UnicodeError):
        raise EvalError("base64decode: the value is not valid base64 of UTF-8 text") from None


@_register("abbreviate")
@_strings
def _abbreviate(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    return text[: max(0, length - 3)] + "..."


@_register("slugify")
@_strings
def _slugify(text: str) -> str:
    slug = unicodedata.normalize("NFD", re.sub(r"\s", "-", text))
    slug = re.sub(r"[^\w-]", "", slug, flags=re.ASCII).replace("_", "-")
    return re.sub(r"-{2,}", "-", slug).strip("-").lower()


def _substring(before: bool, last: bool) -> Filter:
    def cut(text: str, separator: Any) -> str:
        sep = to_text(separator)
        if not sep:
            return "" if before != last else text
        at = text.rfind(sep) if last else text.find(sep)
        if at < 0:
            return text if before else ""
        return text[:at] if before else text[at + len(sep):]
    return _strings(cut)


FILTERS["substringBefore"] = _substring(before=True, last=False)
FILTERS["substringBeforeLast"] = _substring(before=True, last=True)
FILTERS["substringAfter"] = _substring(before=False, last=False)
FILTERS["substringAfterLast"] = _substring(before=False, last=True)


# -- values and collections --------------------------------------------------------
@_register("default")
def _default(value: Any, default: Any = None) -> Any:
    if is_undefined(value) or value is None:
        return default
    if isinstance(value, str) and not value.strip():
        return default
    if isinstance(value, Mapping | list | tuple) and not value:
        return default
    return value


@_register("length")
def _length(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | Mapping | list | tuple):
        return len(value)
    raise EvalError(f"length: cannot measure {type_name(value)}")


def _end(index: int) -> Filter:
    def pick(value: Any) -> Any:
        if value is None or (isinstance(value, str | list | tuple) and not value):
            return None
        if isinstance(value, str | list | tuple):
            return value[index]
        if isinstance(value, Mapping):
            return list(value.values())[index] if value else None
        raise EvalError(f"cannot take an element of {type_name(value)}")
    return pick


FILTERS["first"] = _end(0)
FILTERS["last"] = _end(-1)


@_register("join")
def _join(value: Any, separator: Any = "") -> Any:
    if value is None:
        return None
    items = list(value.values()) if isinstance(value, Mapping) else _collection(value, "join")
    glue = to_text(separator)
    texts: list[str] = []
    size = max(0, len(items) - 1) * len(glue)
    fits(size, "join")
    for index, item in enumerate(items):  # items may repeat one long string: count first
        poll(index)
        texts.append(to_text(item))
        size = fits(size + len(texts[-1]), "join")
    return glue.join(texts)


@_register("keys")
def _keys(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value)
    return list(range(len(_collection(value, "keys"))))


@_register("values")
def _values(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    return _collection(value, "values")


@_register("chunk")
def _chunk(value: Any, size: int) -> list[list[Any]]:
    items = _collection(value, "chunk")
    if not isinstance(size, int) or size < 1:
        raise EvalError("chunk: the size must be a positive integer")
    fits_nodes(measure(items)[0] + -(-len(items) // size), "chunk")
    return [items[i:i + size] for i in range(0, len(items), size)]


@_register("distinct")
def _distinct(value: Any) -> list[Any]:
    seen: set[str] = set()
    out = []
    for index, item in enumerate(_collection(value, "distinct")):
        poll(index)
        key = type_name(item) + ":" + to_json(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _sort_key(item: Any) -> Any:
    if is_number(item):
        return (0, item, "")
    if isinstance(item, str):
        return (1, 0, item)
    raise EvalError(f"cannot sort a list holding {type_name(item)} values")


FILTERS["sort"] = lambda value: sorted(_collection(value, "sort"), key=_sort_key)
FILTERS["rsort"] = lambda value: sorted(_collection(value, "rsort"), key=_sort_key, reverse=True)


@_register("reverse")
def _reverse(value: Any) -> Any:
    if isinstance(value, str):
        return value[::-1]
    return list(reversed(_collection(value, "reverse")))


@_register("slice")
def _slice(value: Any, fromIndex: int = 0, toIndex: int | None = None) -> Any:
    if not isinstance(value, str | list | tuple):
        raise EvalError(f"slice: cannot slice {type_name(value)}")
    end = len(value) if toIndex is None else toIndex
    if not 0 <= fromIndex <= end <= len(value):
        raise EvalError(f"slice: indexes {fromIndex}..{end} are out of range")
    return value[fromIndex:end]


@_register("merge")
def _merge(value: Any, other: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(other, Mapping):
        fits_nodes(measure(value)[0] + measure(other)[0], "merge")
        return {**value, **other}
    if isinstance(value, list | tuple):
        more = other if isinstance(other, list | tuple) else [other]
        fits_nodes(measure(value)[0] + measure(more)[0], "merge")
        return [*value, *more]
    raise EvalError(f"merge: cannot merge {type_name(value)} with {type_name(other)}")


@_register("abs")
def _abs(value: Any) -> Any:
    if not is_number(value):
        raise EvalError(f"abs: not a number: {type_name(value)}")
    return abs(value)


@_register("number")
def _number(value: Any, type: Any = None) -> Any:
    if value is None:
        return None
    text = to_text(value).strip()
    kind = str(type).upper() if type is not None else ""
    try:
        if kind in ("INT", "LONG", "BIGINTEGER"):
            return int(text)
        if kind in ("FLOAT", "DOUBLE", "BIGDECIMAL"):
            return float(text)
        if kind:
            raise EvalError(f"number: unknown type '{type}' (INT, LONG, FLOAT, DOUBLE…)")
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError:
        raise EvalError(f"number: '{text[:40]}' is not a number") from None


@_register("numberFormat")
def _number_format(value: Any, format: str) -> str:
    if not is_number(value):
        raise EvalError(f"numberFormat: not a number: {type_name(value)}")
    whole, _, fraction = str(format).partition(".")
    digits = sum(ch in "0#" for ch in fraction)
    minimum = fraction.count("0")
    quantum = decimal.Decimal(1).scaleb(-digits)
    number = decimal.Decimal(repr(value)).quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
    text = f"{number:,.{digits}f}" if "," in whole else f"{number:.{digits}f}"
    if "." in text:
        head, tail = text.split(".")
        tail = tail.rstrip("0").ljust(minimum, "0")
        text = f"{head}.{tail}" if tail else head
    if "0" not in whole and text.startswith("0."):
        text = text[1:]
    return text


@_register("toJson", "json", "jsonEncode")
def _to_json(value: Any) -> str:
    return to_json(value)


@_register("jq")
def _jq(value: Any, expression: Any) -> Any:
    return None if value is None else jq.run(to_text(expression), value)


@_register("flatten")
def _flatten(value: Any) -> Any:
    """One level: the items of the lists in a list, other items as they are (Kestra)."""
    if value is None:
        return None
    items = _collection(value, "flatten")
    fits_nodes(measure(items)[0], "flatten")
    return [inner for item in items for inner in (item if isinstance(item, list | tuple) else (item,))]


@_register("uniq")
def _uniq(value: Any) -> Any:
    return _distinct(value) if isinstance(value, list | tuple) else value


_JAVA_CLASSES = ((bool, "java.lang.Boolean"), (str, "java.lang.String"), (float, "java.lang.Double"),
                 (Mapping, "java.util.LinkedHashMap"), (list | tuple, "java.util.ArrayList"))


@_register("className")
def _class_name(value: Any) -> Any:
    """The Java class Kestra would hold the value as (numbers: Integer, Long or Double)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return "java.lang.Integer" if -(2**31) <= value < 2**31 else "java.lang.Long"
    for kind, name in _JAVA_CLASSES:
        if isinstance(value, kind):
            return name
    return "java.time.ZonedDateTime" if isinstance(value, dt.datetime) else type_name(value)


FILTERS["yaml"] = lambda value: formats.to_yaml(value)
FILTERS["toIon"] = lambda value: formats.to_ion(value)
FILTERS.update(DATE_FILTERS)
FILTERS.update(REWRITE_FILTERS)
FILTERS.update(REGEX_FILTERS)
