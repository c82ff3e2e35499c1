"""Size limits of the code (helper rules, issue 16): no function over 60 lines and no module
over 400 lines in runner/ and webhooks/, so they stay true once reached."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

MAX_FUNCTION = 60  # lines from `def` to its last line (decorators not counted)
MAX_MODULE = 400
PACKAGES = ("runner", "webhooks")


def _sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (REPO_ROOT / package).rglob("*.py")
                  if "node_modules" not in path.parts)


def too_long(source: str, name: str) -> list[str]:
    """What in this module's text is over the limits, as 'name: n lines'."""
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE:
        found.append(f"{name}: {lines} lines (module, at most {MAX_MODULE})")
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION:
                found.append(f"{name}:{node.lineno} {node.name}: {length} lines "
                             f"(function, at most {MAX_FUNCTION})")
    return found


def test_no_function_or_module_is_over_the_limits() -> None:
    sources = _sources()
    assert len(sources) > 100  # the walk found the packages
    over = [found for path in sources
            for found in too_long(path.read_text(encoding="utf-8"),
                                  path.relative_to(REPO_ROOT).as_posix())]
    assert not over, "split these:\n" + "\n".join(over)


def test_the_check_sees_long_functions_nested_ones_and_long_modules() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION - 1))
    assert too_long(f"def ok():\n{body}", "m.py") == []
    assert too_long(f"def big():\n{body}    x = 0\n", "m.py") == [
        f"m.py:1 big: {MAX_FUNCTION + 1} lines (function, at most {MAX_FUNCTION})"]
    nested = "class C:\n    def outer(self):\n        async def inner():\n" + \
        "".join(f"            y{i} = {i}\n" for i in range(MAX_FUNCTION))
    assert [f.split(" ")[1] for f in too_long(nested, "n.py")] == ["outer:", "inner:"]
    assert too_long("x = 1\n" * (MAX_MODULE + 1), "long.py") == [
        f"long.py: {MAX_MODULE + 1} lines (module, at most {MAX_MODULE})"]
