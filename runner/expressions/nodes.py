"""The syntax tree of a Pebble template: expressions and template nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True)
class Get:
    """`obj.key` or `obj[key]`; src is the source text, for messages."""

    obj: Expr
    key: Expr
    src: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    pos: int


@dataclass(frozen=True)
class Filter:
    value: Expr
    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    pos: int


@dataclass(frozen=True)
class Test:
    value: Expr
    name: str
    negated: bool
    args: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True)
class Unary:
    op: str  # "not" | "-" | "+"
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Cond:
    test: Expr
    then: Expr
    else_: Expr


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class MapExpr:
    pairs: tuple[tuple[Expr, Expr], ...]


Expr = Const | Name | Get | Call | Filter | Test | Unary | Binary | Cond | ListExpr | MapExpr


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Output:
    expr: Expr


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[Expr, tuple[Node, ...]], ...]
    else_: tuple[Node, ...] | None


@dataclass(frozen=True)
class For:
    var: str
    iterable: Expr
    body: tuple[Node, ...]
    else_: tuple[Node, ...] | None


@dataclass(frozen=True)
class Set:
    name: str
    expr: Expr


@dataclass(frozen=True)
class FilterCall:
    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    pos: int


@dataclass(frozen=True)
class FilterBlock:
    filters: tuple[FilterCall, ...]
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Macro:
    """`{% macro name(a, b="x") %}…{% endmacro %}`: sees only its arguments (and `_context`)."""

    name: str
    params: tuple[tuple[str, Expr | None], ...]
    body: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Block:
    """`{% block name %}…{% endblock %}`: rendered in place, again by `block("name")`."""

    name: str
    body: tuple[Node, ...]


Node = Text | Output | If | For | Set | FilterBlock | Macro | Block


def children(expr: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions, in evaluation order."""
    if isinstance(expr, Get):
        return (expr.obj, expr.key)
    if isinstance(expr, Call):
        return (*expr.args, *(v for _, v in expr.kwargs))
    if isinstance(expr, Filter):
        return (expr.value, *expr.args, *(v for _, v in expr.kwargs))
    if isinstance(expr, Test):
        return (expr.value, *expr.args)
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Cond):
        return (expr.test, expr.then, expr.else_)
    if isinstance(expr, ListExpr):
        return expr.items
    if isinstance(expr, MapExpr):
        return tuple(e for pair in expr.pairs for e in pair)
    return ()
