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


_FOUND = re.compile(r"expected <block end>, but found '?(?P<found>[^']*)'?")
_FLOW_END = re.compile(r"expected ',' or '(?P<close>[\]}])', but got '?(?P<got>[^']*)'?")
_CLOSERS = {"]": ("[", "list"), "}": ("{", "mapping")}


def _snippet(lines: list[str], line: int, limit: int = 40) -> str:
    text = lines[line - 1].strip() if 1 <= line <= len(lines) else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _block_problem(found: str, at: Pos, opened: Pos | None, here: str) -> str | None:
    """`expected <block end>`: a line that does not fit the indented block it follows."""
    if found in ("<block end>", "<stream end>"):
        return None
    (line, col), start = at, f"line {opened[0]} col {opened[1]}" if opened else "above"
    item = found in ("-", "<block sequence start>")
    if item and opened and opened[1] == col:
        return (f"a list item `{here}` at line {line} col {col} cannot follow the keys of the "
                f"mapping that starts at {start}: put the list under a key (`key:` then "
                "`  - item`)")
    if not item and opened and opened[1] == col:
        return (f"a mapping is not closed: `{here}` at line {line} col {col} lines up with the "
                f"'-' of the list item at {start}, not with the item's keys: indent it to the "
                "column of the item's first key")
    what = "a list item" if item else "a key"
    return (f"a mapping is not closed: {what} `{here}` at line {line} col {col} is indented "
            f"differently from the block it follows (which starts at {start}); line it up with "
            "the keys it belongs with, using spaces")


def plain_problem(problem: str, context: str | None, at: Pos, opened: Pos | None,
                  lines: list[str]) -> str | None:
    """ruamel's parser message (`expected <block end>, but found '<block mapping start>'`) in
    plain words, naming the text at fault and where the enclosing block starts; None for a
    message with no plain wording here (it is shown as ruamel says it)."""
    (line, col), here = at, _snippet(lines, at[0])
    start = f"line {opened[0]} col {opened[1]}" if opened else "above"
    block = _FOUND.fullmatch(problem)
    if block:
        return _block_problem(block["found"], at, opened, here)
    flow = _FLOW_END.fullmatch(problem)
    if flow:
        opener, kind = _CLOSERS[flow["close"]]
        got = "the end of the file" if "end" in flow["got"] else f"'{flow['got']}'"
        return (f"a {kind} opened with `{opener}` at {start} is not closed with "
                f"`{flow['close']}` (found {got} at line {line} col {col}); close it, or quote "
                f"the value if `{opener}` is meant as text (an expression: \"{{{{ … }}}}\")")
    if problem.startswith("expected '<document start>'"):
        return (f"`{here}` at line {line} col {col} is indented less than the lines before it, "
                "which are not under a key: the top-level keys must all start at the same "
                "column (the first)")
    if problem == "mapping values are not allowed here":
        return (f"unexpected ':' at line {line} col {col} in `{here}`: a value holding ': ' "
                "must be quoted (`key: \"a: b\"`); a new key goes on its own line at the "
                "indentation of its siblings")
    if problem == "could not find expected ':'":
        return (f"`{_snippet(lines, opened[0] if opened else line)}` at {start} is neither "
                "`key: value` nor a list item `- value`: add the ': ' (or the '- '), or fix "
                "its indentation")
    if problem == "found unexpected end of stream" and context and "quoted" in context:
        return f"a quoted string opened at {start} is never closed: add the closing quote"
    if problem.startswith("found undefined alias"):
        return (f"`{here}` at line {line} col {col}: '*' starts a YAML alias, and no `&anchor` "
                "of that name is defined; quote the value if '*' is meant as text")
    char = re.fullmatch(r"found character '(.)' that cannot start any token", problem)
    if char:
        return (f"a plain value cannot start with '{char[1]}' (line {line} col {col}); quote "
                "the value")
    return None
