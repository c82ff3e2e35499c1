"""Pebble template text → segments, and expression source → tokens.

Segments: literal text, `{{ … }}` prints and `{% … %}` tags. Whitespace control
(`{{-`, `-}}`, `{%-`, `-%}`) is applied here, so later stages never see it.
`{% raw %}`/`{% verbatim %}` content becomes literal text. A `{#` opens a
comment only when a `#}` closes it (shell's `${#var}` stays text). The end of
a print or tag is found outside string literals and brackets, as Pebble does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runner.expressions.errors import PebbleSyntaxError

WHITESPACE = " \t\n\r\f\v"
_OPENER = re.compile(r"\{[{%#]")
_END_RAW = re.compile(r"\{%(-?)\s*end(?:raw|verbatim)\s*(-?)%\}")
_TAG_NAME = re.compile(r"\s*([A-Za-z_]\w*)")
_OPS = ("???", "??", "==", "!=", "<=", ">=", "..", "<", ">", "+", "-", "*", "/", "%", "~", "|",
        "?", ":", ".", ",", "(", ")", "[", "]", "{", "}", "=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SPACE = re.compile(r"\s+")
_QUOTE_ESCAPE = {"'": re.compile(r"\\(')"), '"': re.compile(r'\\(")')}


@dataclass(frozen=True)
class Segment:
    kind: str  # "text" | "print" | "tag"
    body: str  # literal text, or the source between the delimiters
    offset: int  # index of body in the template


@dataclass(frozen=True)
class Token:
    kind: str  # "name" | "num" | "str" | "op" | "eof"
    value: Any
    pos: int  # index in the template
    end: int


def split_template(src: str) -> list[Segment]:
    out: list[Segment] = []
    pos = 0
    trim_next = False
    last_close = src.rfind("#}")  # an unclosed `{#` is literal text
    while True:
        start, opener = _next_opener(src, pos, last_close)
        text = src[pos:] if start < 0 else src[pos:start]
        if start >= 0 and src.startswith("-", start + 2):
            text = text.rstrip(WHITESPACE)
        if trim_next:
            text = text.lstrip(WHITESPACE)
        if text:
            out.append(Segment("text", text, pos))
        if start < 0:
            return out
        body_start = start + 2 + (1 if src.startswith("-", start + 2) else 0)
        if opener == "{#":
            end = src.find("#}", body_start)
            trim_next = src[end - 1] == "-" and end > body_start
            pos = end + 2
            continue
        closer = "}}" if opener == "{{" else "%}"
        end, trim_next = _find_close(src, body_start, closer, start)
        body = src[body_start:end]
        pos = end + len(closer) + (1 if trim_next else 0)
        name = _TAG_NAME.match(body)
        if opener == "{%" and name and name.group(1) in ("raw", "verbatim"):
            close = _END_RAW.search(src, pos)
            if close is None:
                raise PebbleSyntaxError(f"unclosed '{{% {name.group(1)} %}}'", start)
            raw = src[pos:close.start()]
            raw = raw.lstrip(WHITESPACE) if trim_next else raw
            raw = raw.rstrip(WHITESPACE) if close.group(1) else raw
            if raw:
                out.append(Segment("text", raw, pos))
            trim_next = bool(close.group(2))
            pos = close.end()
            continue
        out.append(Segment("print" if opener == "{{" else "tag", body, body_start))


def _next_opener(src: str, pos: int, last_close: int) -> tuple[int, str]:
    """The first `{{`, `{%` or closed `{#` at or after pos."""
    for match in _OPENER.finditer(src, pos):
        if match.group() != "{#" or last_close >= match.start() + 2:
            return match.start(), match.group()
    return -1, ""


def _find_close(src: str, i: int, closer: str, start: int) -> tuple[int, bool]:
    """Index where the delimiter (or its `-` trim mark) begins, and whether trimmed."""
    depth = 0
    quote = ""
    n = len(src)
    while i < n:
        ch = src[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif depth == 0 and src.startswith("-" + closer, i):
            return i, True
        elif depth == 0 and src.startswith(closer, i):
            return i, False
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    kind = "{{" if closer == "}}" else "{%"
    raise PebbleSyntaxError(f"'{kind}' is not closed with '{closer}'", start)


def tokenize(src: str, start: int, end: int) -> list[Token]:
    """Tokens of src[start:end] (an expression or a tag body)."""
    tokens: list[Token] = []
    i = start
    while i < end:
        space = _SPACE.match(src, i, end)
        if space:
            i = space.end()
            continue
        ch = src[i]
        if (m := _NAME.match(src, i, end)) is not None:
            tokens.append(Token("name", m.group(), i, m.end()))
            i = m.end()
        elif (m := _NUMBER.match(src, i, end)) is not None:
            text = m.group()
            tokens.append(Token("num", float(text) if "." in text else int(text), i, m.end()))
            i = m.end()
        elif ch in "'\"":
            j = _string_end(src, i, end)
            raw = src[i + 1:j]
            tokens.append(Token("str", _QUOTE_ESCAPE[ch].sub(r"\1", raw), i, j + 1))
            i = j + 1
        else:
            op = next((o for o in _OPS if src.startswith(o, i) and i + len(o) <= end), None)
            if op is None:
                raise PebbleSyntaxError(f"unexpected character '{ch}'", i)
            tokens.append(Token("op", op, i, i + len(op)))
            i += len(op)
    tokens.append(Token("eof", None, end, end))
    return tokens


def _string_end(src: str, i: int, end: int) -> int:
    quote = src[i]
    j = i + 1
    while j < end:
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == quote:
            return j
        j += 1
    raise PebbleSyntaxError("unterminated string literal", i)
