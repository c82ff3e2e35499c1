"""YAML and Ion text, as Kestra's `yaml`/`toIon` filters and `yaml()`/`fromIon()` functions.

Writers cover what a template holds (maps, lists, strings, numbers, booleans,
null, dates): YAML as Kestra's Jackson writes it (block style, no `---`,
quotes only where a plain scalar would be read back differently) and Ion text.
The Ion reader takes Kestra's ion files (one value per line; the first value is
read): structs, lists, s-expressions, strings, symbols, numbers, timestamps (as
text), typed nulls, blobs/clobs (as text) and annotations (dropped). YAML is
read by the flow loader, with its size, nesting and alias limits.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from runner.expressions.errors import EvalError
from runner.expressions.runtime import MAX_VALUE_DEPTH, check_length, fits, poll

_PLAIN = re.compile(r"[A-Za-z_./][\w ./@-]*", re.ASCII)
_RESERVED = re.compile(r"(?i:true|false|yes|no|on|off|null|y|n|~)|[-+.]?\d.*")
_SYMBOL = re.compile(r"[A-Za-z_$][\w$]*", re.ASCII)


# -- YAML -------------------------------------------------------------------------
def to_yaml(value: Any) -> str:
    size = [0]
    return check_length("\n".join(_yaml_block(value, 0, size)) + "\n")


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    text = str(value)
    if _PLAIN.fullmatch(text) and not _RESERVED.fullmatch(text) and not text.endswith(" "):
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and bool(value)


def _yaml_block(value: Any, indent: int, size: list[int]) -> list[str]:
    """Block-style lines; a list under a key is not indented further (as Jackson writes)."""
    if indent > 2 * MAX_VALUE_DEPTH:
        raise EvalError("yaml: the value is nested too deeply")
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            head = f"{pad}{_yaml_scalar(key)}:"
            if _nested(item):
                lines.append(head)
                lines += _yaml_block(item, indent + 2 if isinstance(item, Mapping) else indent, size)
            else:
                lines.append(f"{head} {_yaml_scalar(item)}")
    elif isinstance(value, list | tuple) and value:
        for item in value:
            if _nested(item):
                inner = _yaml_block(item, indent + 2, size)
                lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(pad + _yaml_scalar(value))
    size[0] += sum(map(len, lines))
    fits(size[0], "yaml")
    poll(size[0] // 64)
    return lines


def from_yaml(text: Any) -> Any:
    if text is None or not str(text).strip():
        return None
    from runner.yamlsource import YamlSyntaxError, load  # the one YAML reader, and its limits

    try:
        return load(str(text), "yaml()").data
    except YamlSyntaxError as err:
        if all(d.code == "empty-file" for d in err.diagnostics):  # `null`, `~`: no value
            return None
        raise EvalError("yaml: " + "; ".join(d.message for d in err.diagnostics)) from None


# -- Ion --------------------------------------------------------------------------
def to_ion(value: Any, depth: int = 0) -> str:
    if depth > MAX_VALUE_DEPTH:
        raise EvalError("toIon: the value is nested too deeply")
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value!r}e0" if "e" not in repr(value) and value == value else repr(value)
    if isinstance(value, Mapping):
        fields = [f"{_ion_symbol(str(k))}:{to_ion(v, depth + 1)}" for k, v in value.items()]
        return check_length("{" + ",".join(fields) + "}")
    if isinstance(value, list | tuple):
        return check_length("[" + ",".join(to_ion(v, depth + 1) for v in value) + "]")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat().replace("+00:00", "Z")
    return check_length(json.dumps(str(value), ensure_ascii=False))


def _ion_symbol(name: str) -> str:
    if _SYMBOL.fullmatch(name) and name not in ("null", "true", "false", "nan"):
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


_ION_TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<long>'''(?:[^'\\]|\\.|'(?!''))*''')
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<quoted>'(?:[^'\\]|\\.)*')
  | (?P<lob>\{\{.*?\}\})
  | (?P<punct>::|[{}\[\](),:])
  | (?P<atom>\d{4}-\d\d-\d\dT[\d:.+\-Z]*|[^\s{}\[\](),:"']+)
""", re.VERBOSE | re.DOTALL)
_TIMESTAMP = re.compile(r"\d{4}(-\d\d(-\d\d)?)?T?.*")
_NUMBER = re.compile(r"[-+]?(\d[\d_]*)?(\.[\d_]*)?([eEdD][-+]?\d+)?")


def from_ion(text: Any) -> Any:
    """The first value of an Ion text."""
    if text is None:
        return None
    tokens = [(m.lastgroup or "", m.group()) for m in _ION_TOKEN.finditer(str(text))
              if m.lastgroup != "space"]
    if tokens[:1] == [("atom", "$ion_1_0")]:  # the version marker is not a value
        tokens = tokens[1:]
    if not tokens:
        return None
    value, _ = _ion_value(tokens, 0, 0)
    return value


def _ion_value(tokens: list[tuple[str, str]], i: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_VALUE_DEPTH:
        raise EvalError("fromIon: the value is nested too deeply")
    poll(i)
    while i + 1 < len(tokens) and tokens[i + 1] == ("punct", "::"):
        i += 2  # an annotation
    if i >= len(tokens):
        raise EvalError("fromIon: the text ends in the middle of a value")
    kind, text = tokens[i]
    if kind == "punct" and text in "{[(":
        return _ion_container(tokens, i, depth)
    if kind in ("string", "quoted"):
        return _ion_string(text[1:-1]), i + 1
    if kind == "long":  # adjacent long strings are one string
        parts = []
        while i < len(tokens) and tokens[i][0] == "long":
            parts.append(_ion_string(tokens[i][1][3:-3]))
            i += 1
        return "".join(parts), i
    if kind == "lob":
        inner = text[2:-2].strip()
        return (_ion_string(inner[1:-1]) if inner.startswith('"') else inner), i + 1
    if kind == "atom":
        return _ion_atom(text), i + 1
    raise EvalError(f"fromIon: unexpected '{text}'")


def _ion_container(tokens: list[tuple[str, str]], i: int, depth: int) -> tuple[Any, int]:
    opener = tokens[i][1]
    closer = {"{": "}", "[": "]", "(": ")"}[opener]
    items: list[Any] = []
    fields: dict[str, Any] = {}
    i += 1
    while i < len(tokens) and tokens[i] != ("punct", closer):
        if opener == "{":
            kind, key = tokens[i]
            name = _ion_string(key[1:-1]) if kind in ("string", "quoted") else key
            if i + 1 >= len(tokens) or tokens[i + 1] != ("punct", ":"):
                raise EvalError(f"fromIon: expected ':' after the field name '{name}'")
            fields[name], i = _ion_value(tokens, i + 2, depth + 1)
        else:
            item, i = _ion_value(tokens, i, depth + 1)
            items.append(item)
        if i < len(tokens) and tokens[i] == ("punct", ","):
            i += 1
    if i >= len(tokens):
        raise EvalError(f"fromIon: '{opener}' is not closed")
    return (fields if opener == "{" else items), i + 1


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "f": "\f",
           "v": "\v", "\n": ""}


def _ion_string(body: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) > 1:
            return chr(int(code[1:], 16))
        return _SIMPLE.get(code, code)
    return _ESCAPE.sub(one, body)


def _ion_atom(text: str) -> Any:
    if text == "true" or text == "false":
        return text == "true"
    if text == "null" or text.startswith("null."):
        return None
    if text in ("nan", "+inf", "-inf"):
        return float(text)
    if _NUMBER.fullmatch(text) and any(ch.isdigit() for ch in text):
        clean = text.replace("_", "")
        if clean.lower().startswith(("0x", "-0x")):
            return int(clean, 16)
        if re.fullmatch(r"[-+]?\d+", clean):
            return int(clean)
        return float(clean.replace("d", "e").replace("D", "e"))
    if text.lower().startswith(("0x", "-0x", "0b", "-0b")):
        return int(text.replace("_", ""), 0)
    if _TIMESTAMP.fullmatch(text):
        return text  # Kestra prints a timestamp as ISO text
    return text  # a symbol
