"""No module of the server reaches into another object's private members (issue 16: other
modules used FlowService's _superseded, _token and _logs_changed): each part of the service
offers what its users need as public methods."""

from __future__ import annotations

import ast
from pathlib import Path

WEBHOOKS = Path(__file__).resolve().parents[2] / "webhooks"
# waitress's single-socket server keeps its socket map only as `_map` (no public name)
ALLOWED = {("wsgi.py", "server._map")}


def private_reaches(source: str) -> list[str]:
    """`x._name` where x is not self or cls (dunders are public protocol)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(ast.unparse(node))
    return found


def test_the_check_sees_a_reach_into_a_private_member() -> None:
    assert private_reaches("service._token(name)\nself._lock\ncls._x\nobj.__class__") == [
        "service._token"]
    assert private_reaches("self.service._logs_changed") == ["self.service._logs_changed"]


def test_no_server_module_reaches_into_private_members() -> None:
    found = [f"{path.relative_to(WEBHOOKS)}: {reach}"
             for path in sorted(WEBHOOKS.rglob("*.py")) if "node_modules" not in path.parts
             for reach in private_reaches(path.read_text(encoding="utf-8"))
             if (str(path.relative_to(WEBHOOKS)), reach) not in ALLOWED]
    assert found == []
