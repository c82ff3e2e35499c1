"""YAML text → plain data plus the source position of every node.

The only module that imports ruamel.yaml. Duplicate keys are rejected by the
loader; syntax errors become diagnostics, with hints for the copy-paste
mistakes seen most often (``key:value`` without a space, ``-id:``, ``"x"#``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from runner.diagnostics import Diagnostic, Severity

Path = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line, column


@dataclass
class Located:
    """Plain data (dict/list/str/int/float/bool/None) with node positions."""

    file: str
    data: Any
    key_pos: dict[Path, Pos] = field(default_factory=dict)
    value_pos: dict[Path, Pos] = field(default_factory=dict)

    def pos(self, path: Path) -> Pos:
        """Position of the node at path, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            sub = path[:end]
            if sub in self.key_pos:
                return self.key_pos[sub]
            if sub in self.value_pos:
                return self.value_pos[sub]
        return (1, 1)

    def value_at(self, path: Path) -> Pos:
        return self.value_pos.get(path) or self.pos(path)


class YamlSyntaxError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.format() for d in diagnostics))
        self.diagnostics = diagnostics


def load(text: str, file: str) -> Located:
    yaml = YAML(typ="rt", pure=True)
    try:
        root = yaml.load(text)
    except DuplicateKeyError as err:
        raise YamlSyntaxError([_marked(err, file, "duplicate-key", _duplicate_message(err))]) from None
    except MarkedYAMLError as err:
        raise YamlSyntaxError(_syntax_diagnostics(err, text, file)) from None
    except YAMLError as err:  # unmarked errors are rare; still never a stack trace
        raise YamlSyntaxError([_diag(file, 1, 1, "yaml-syntax", str(err))]) from None
    located = Located(file=file, data=None)
    located.value_pos[()] = (1, 1)
    located.data = _convert(root, (), located)
    return located


def _convert(node: Any, path: Path, located: Located) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, str(key))
            k_line, k_col = node.lc.key(key)
            located.key_pos[child] = (k_line + 1, k_col + 1)
            v_line, v_col = node.lc.value(key)
            located.value_pos[child] = (v_line + 1, v_col + 1)
            out[str(key)] = _convert(node[key], child, located)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            located.value_pos[child] = (line + 1, col + 1)
            items.append(_convert(item, child, located))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _diag(file: str, line: int, col: int, code: str, message: str) -> Diagnostic:
    return Diagnostic(file, line, col, Severity.ERROR, code, message)


def _marked(err: MarkedYAMLError, file: str, code: str, message: str) -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return _diag(file, line, col, code, message)


def _duplicate_message(err: DuplicateKeyError) -> str:
    problem = str(err.problem or "duplicate key")
    first = err.context_mark
    where = f" (first defined at line {first.line + 1})" if first else ""
    return f"{problem.split(' with value')[0]}{where}"


_KEY_NO_SPACE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w.-]*):(?![\s:/]|$)(\S.*)$")
_DASH_NO_SPACE = re.compile(r"^(\s*)-(?![\s-]|$)")
_COMMENT_NO_SPACE = re.compile(r"""["'](#)""")


def _hints(text: str, file: str) -> Iterator[Diagnostic]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        stripped = line.lstrip()
        if stripped.startswith("#") or not stripped:
            continue
        if "\t" in line[: len(line) - len(stripped)]:
            yield _diag(file, number, 1, "yaml-syntax",
                        "tabs are not allowed in YAML indentation; use spaces")
        dash = _DASH_NO_SPACE.match(line)
        if dash:
            col = len(dash.group(1)) + 1
            yield _diag(file, number, col, "yaml-syntax",
                        f"missing space after '-' in '{stripped}' "
                        f"(a list item is written '- {stripped[1:]}')")
            line = line[:col] + " " + line[col:]  # look for a key: mistake after it too
        key = _KEY_NO_SPACE.match(line)
        if key and not key.group(3).startswith("//"):
            name = key.group(2)
            col = len(key.group(1)) + 1 - (1 if dash else 0)
            yield _diag(file, number, col, "yaml-syntax",
                        f"missing space after ':' in '{name}:{key.group(3)}' "
                        f"(write '{name}: {key.group(3)}')")
        comment = _COMMENT_NO_SPACE.search(line)
        if comment:
            yield _diag(file, number, comment.start(1) + 1, "yaml-syntax",
                        "a comment needs a space before '#'")


def _syntax_diagnostics(err: MarkedYAMLError, text: str, file: str) -> list[Diagnostic]:
    hints = list(_hints(text, file))
    problem = str(err.problem or "invalid YAML")
    if err.context:
        problem = f"{problem} ({err.context}"
        if err.context_mark:
            problem += f" at line {err.context_mark.line + 1}"
        problem += ")"
    parser = _marked(err, file, "yaml-syntax", problem)
    first = err.context_mark.line + 1 if err.context_mark else parser.line
    explained = any(first <= h.line <= parser.line for h in hints)
    return sorted(hints if explained else [*hints, parser])
