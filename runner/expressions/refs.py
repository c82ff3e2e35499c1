"""Static analysis of templates for lint: what a template reads, and syntax errors.

references() never raises: on a broken template it falls back to parsing each
`{{ … }}` and tag on its own and returns what those tell.
"""

from __future__ import annotations

import re

from runner.expressions.errors import PebbleSyntaxError
from runner.expressions.lexer import split_template
from runner.expressions.nodes import (
    Block,
    Const,
    Expr,
    FilterBlock,
    For,
    Get,
    If,
    Macro,
    Name,
    Node,
    Output,
    Set,
    children,
)
from runner.expressions.parser import parse_expression, parse_template
from runner.expressions.render import describe, is_template
from runner.expressions.translate import translate

Path = tuple[str, ...]
_LOCAL_TAG = re.compile(r"^\s*(?:set|for)\s+([A-Za-z_]\w*)")
_EXPR_TAG = re.compile(r"^\s*(?:if|elseif|set\s+[A-Za-z_]\w*\s*=|for\s+[A-Za-z_]\w*\s+in)(?!\w)")
_PRINT = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)


def syntax_error(text: str) -> str | None:
    """Why text is not a valid template, or None."""
    if not is_template(text):
        return None
    try:
        translate(parse_template(text))
    except PebbleSyntaxError as err:
        return describe(err, text)
    except RecursionError:
        return "expression is nested too deeply"
    return None


def references(text: str) -> list[Path]:
    """Attribute paths of the variables text reads, e.g. ('outputs', 'task1', 'value')."""
    if not is_template(text):
        return []
    found: dict[Path, None] = {}
    try:
        _nodes(parse_template(text), set(), found)
    except (PebbleSyntaxError, RecursionError):
        found.clear()
        _fallback(text, found)
    return list(found)


def _nodes(nodes: tuple[Node, ...], local: set[str], found: dict[Path, None]) -> None:
    for node in nodes:
        if isinstance(node, Output):
            _expr(node.expr, local, found)
        elif isinstance(node, Set):
            _expr(node.expr, local, found)
            local.add(node.name)
        elif isinstance(node, If):
            for test, body in node.branches:
                _expr(test, local, found)
                _nodes(body, local, found)
            if node.else_ is not None:
                _nodes(node.else_, local, found)
        elif isinstance(node, For):
            _expr(node.iterable, local, found)
            _nodes(node.body, local | {node.var, "loop"}, found)
            if node.else_ is not None:
                _nodes(node.else_, set(local), found)
        elif isinstance(node, Macro):  # sees only its arguments: nothing of the flow's
            _nodes(node.body, {name for name, _ in node.params} | {"_context"}, {})
        elif isinstance(node, Block):
            _nodes(node.body, local, found)
        elif isinstance(node, FilterBlock):
            for call in node.filters:
                for arg in (*call.args, *(v for _, v in call.kwargs)):
                    _expr(arg, local, found)
            _nodes(node.body, local, found)


def _expr(expr: Expr, local: set[str], found: dict[Path, None]) -> None:
    stack = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, Name):
            if current.name not in local:
                found[(current.name,)] = None
            continue
        if not isinstance(current, Get):
            stack.extend(reversed(children(current)))
            continue
        keys: list[Expr] = []
        base: Expr = current
        while isinstance(base, Get):
            keys.append(base.key)
            base = base.obj
        keys.reverse()
        if isinstance(base, Name):
            if base.name not in local:
                path = [base.name]
                for key in keys:
                    if not (isinstance(key, Const) and isinstance(key.value, str)):
                        break
                    path.append(key.value)
                found[tuple(path)] = None
        else:
            stack.append(base)
        stack.extend(key for key in reversed(keys) if not isinstance(key, Const))


def _fallback(text: str, found: dict[Path, None]) -> None:
    try:
        pieces = [(s.kind, s.body, s.offset) for s in split_template(text)]
    except PebbleSyntaxError:
        pieces = [("print", m.group(1), m.start(1)) for m in _PRINT.finditer(text)]
    local = {m.group(1) for kind, body, _ in pieces if kind == "tag"
             for m in [_LOCAL_TAG.match(body)] if m} | {"loop"}
    for kind, body, offset in pieces:
        start = offset
        if kind == "tag":
            head = _EXPR_TAG.match(body)
            if head is None:
                continue
            start = offset + head.end()
        elif kind != "print":
            continue
        try:
            _expr(parse_expression(text, start, offset + len(body)), local, found)
        except (PebbleSyntaxError, RecursionError):
            continue
