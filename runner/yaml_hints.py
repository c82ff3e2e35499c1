"""Hints for YAML mistakes people make by hand (a tab, `key:value`, `-item`, `"a"#c`), each a
diagnostic at the line and column of the mistake; runner.yamlsource adds them to ruamel's
errors, and to values that only loaded by accident (a `key:value` line read as text)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from runner.diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    from runner.yamlsource import Located, Pos

LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what ruamel counts as a new line


def diag(file: str, line: int, col: int, code: str, message: str) -> Diagnostic:
    return Diagnostic(file, line, col, Severity.ERROR, code, message)


_KEY_NO_SPACE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w.-]*):(?![\s:/]|$)(\S.*)$")
_DASH_NO_SPACE = re.compile(r"^(\s*)-(?![\s-]|$)")
_DASH_KEY = re.compile(r"^-[A-Za-z_][\w.-]*:")
_COMMENT_NO_SPACE = re.compile(r"""["'](#)""")


def lines_of(text: str) -> list[str]:
    return LINE_BREAK.split(text)


def line_hints(text: str, file: str, only: Iterable[int] | None = None) -> Iterator[Diagnostic]:
    lines = lines_of(text)
    numbers = sorted(set(only)) if only is not None else range(1, len(lines) + 1)
    for number in numbers:
        if not 1 <= number <= len(lines):
            continue
        line = lines[number - 1]
        stripped = line.lstrip()
        if stripped.startswith("#") or not stripped:
            continue
        if "\t" in line[: len(line) - len(stripped)]:
            yield diag(file, number, 1, "yaml-syntax",
                        "tabs are not allowed in YAML indentation; use spaces")
        dash = _DASH_NO_SPACE.match(line)
        if dash:
            col = len(dash.group(1)) + 1
            yield diag(file, number, col, "yaml-syntax",
                        f"missing space after '-' in '{stripped}' "
                        f"(a list item is written '- {stripped[1:]}')")
            line = line[:col] + " " + line[col:]  # look for a key: mistake after it too
        key = _KEY_NO_SPACE.match(line)
        if key and not key.group(3).startswith("//"):
            name = key.group(2)
            col = len(key.group(1)) + 1 - (1 if dash else 0)
            yield diag(file, number, col, "yaml-syntax",
                        f"missing space after ':' in '{name}:{key.group(3)}' "
                        f"(write '{name}: {key.group(3)}')")
        comment = _COMMENT_NO_SPACE.search(line)
        if comment:
            yield diag(file, number, comment.start(1) + 1, "yaml-syntax",
                        "a comment needs a space before '#'")


def continuation_hints(text: str, file: str, located: Located,
                        plain: list[tuple[Pos, str]]) -> list[Diagnostic]:
    """`key:value` / `-id:` lines that loaded as part of a plain value: the same hints."""
    lines = lines_of(text)
    starts = {pos[0] for pos in (*located.key_pos.values(), *located.value_pos.values())}
    suspects: set[int] = set()
    for (line, col), value in plain:
        if line > len(lines) or ":" not in value:
            continue
        source = lines[line - 1]
        if col - 1 == len(source) - len(source.lstrip()) and _DASH_KEY.match(source[col - 1:]):
            suspects.add(line)
        for number in range(line + 1, len(lines) + 1):
            stripped = lines[number - 1].strip()
            if number in starts or not stripped or stripped not in value:
                break
            if _KEY_NO_SPACE.match(stripped) or _DASH_NO_SPACE.match(stripped):
                suspects.add(number)
        if (line, col) == located.value_pos[()] and located.data == value:  # the whole document is one scalar
            suspects.update(range(1, len(lines) + 1))
    return sorted(d for d in line_hints(text, file, suspects) if "comment" not in d.message) \
        if suspects else []
