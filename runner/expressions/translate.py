"""Syntax tree → Jinja source for the sandbox, plus its table of constants.

What reaches Jinja is generated, never user text: every literal (template text
included) is an index into `_k`, user names become `v_<name>` (so `self`,
`range` or `cycler` mean nothing special), and every operation is a helper
call, parenthesised so that Pebble's precedence is kept exactly.
"""

from __future__ import annotations

import difflib
from typing import Any

from runner.expressions.errors import PebbleSyntaxError
from runner.expressions.filters import FILTERS
from runner.expressions.helpers import TESTS
from runner.expressions.nodes import (
    Binary,
    Block,
    Call,
    Cond,
    Const,
    Expr,
    Filter,
    FilterBlock,
    For,
    Get,
    If,
    ListExpr,
    Macro,
    MapExpr,
    Name,
    Node,
    Output,
    Set,
    Test,
    Text,
    Unary,
)

MAX_NESTING = 36  # nested helper calls in one expression (Jinja's own parser recurses)
_MATH = ("+", "-", "*", "/", "%")
_COMPARE = ("<", ">", "<=", ">=")


_CONTEXT_FUNCTIONS = ("printContext", "fetchContext")


def translate(nodes: tuple[Node, ...]) -> tuple[str, list[Any]]:
    emitter = _Emitter()
    _collect(nodes, emitter.macros, emitter.blocks)
    body = emitter.nodes(nodes)
    return emitter.definitions() + body, emitter.constants


def _collect(nodes: tuple[Node, ...], macros: dict[str, Macro], blocks: dict[str, Block]) -> None:
    """Macros and blocks anywhere in the template: Pebble's are known before they appear."""
    for node in nodes:
        if isinstance(node, Macro):
            if node.name in macros:
                raise PebbleSyntaxError(f"macro '{node.name}' is defined twice", node.pos)
            macros[node.name] = node
        elif isinstance(node, Block):
            blocks.setdefault(node.name, node)
        for inner in _bodies(node):
            _collect(inner, macros, blocks)


def _bodies(node: Node) -> tuple[tuple[Node, ...], ...]:
    if isinstance(node, If):
        return (*(body for _, body in node.branches), *((node.else_,) if node.else_ else ()))
    if isinstance(node, For):
        return (node.body, *((node.else_,) if node.else_ else ()))
    if isinstance(node, FilterBlock | Macro | Block):
        return (node.body,)
    return ()


def check_filter(name: str, pos: int) -> None:
    if name not in FILTERS:
        raise PebbleSyntaxError(f"unknown filter '{name}'{_guess(name, FILTERS)}", pos)


def _guess(name: str, known: Any) -> str:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class _Emitter:
    def __init__(self) -> None:
        self.constants: list[Any] = []
        self._index: dict[tuple[type, Any], int] = {}
        self._blocks = 0
        self._depth = 0
        self.macros: dict[str, Macro] = {}
        self.blocks: dict[str, Block] = {}
        self.scope: set[str] | None = None  # inside a macro: the names it may read

    def const(self, value: Any) -> str:
        key = (type(value), value)
        if key not in self._index:
            self._index[key] = len(self.constants)
            self.constants.append(value)
        return f"_k[{self._index[key]}]"

    def nodes(self, nodes: tuple[Node, ...]) -> str:
        return "".join(self.node(node) for node in nodes)

    def definitions(self) -> str:
        """Jinja macros for the template's macros and blocks, ahead of everything else."""
        out = []
        for index, block in enumerate(self.blocks.values()):
            out.append(f"{{% macro blk_{index}() %}}{self.nodes(block.body)}{{% endmacro %}}")
        for macro in self.macros.values():
            outer, self.scope = self.scope, {name for name, _ in macro.params}
            params = ", ".join(f"v_{name}={'none' if default is None else self.expr(default)}"
                               for name, default in macro.params)
            out.append(f"{{% macro m_{macro.name}({params}) %}}{self.nodes(macro.body)}{{% endmacro %}}")
            self.scope = outer
        return "".join(out)

    def _block(self, name: Any, pos: int) -> str:
        if not isinstance(name, str) or name not in self.blocks:
            raise PebbleSyntaxError(f"block({name!r}): no such block in this template", pos)
        return f"_macro(blk_{list(self.blocks).index(name)}, [], {{}})"

    def node(self, node: Node) -> str:
        if isinstance(node, Macro):
            return ""  # defined ahead (definitions)
        if isinstance(node, Block):
            return "{{ " + self._block(node.name, 0) + " }}"
        if self.scope is not None and isinstance(node, Set | For):
            self.scope |= {node.name} if isinstance(node, Set) else {node.var, "loop"}
        if isinstance(node, Text):
            return "{{ " + self.const(node.text) + " }}"
        if isinstance(node, Output):
            return "{{ " + self.expr(node.expr) + " }}"
        if isinstance(node, Set):
            return f"{{% set v_{node.name} = {self.expr(node.expr)} %}}"
        if isinstance(node, If):
            parts = []
            for index, (test, body) in enumerate(node.branches):
                keyword = "if" if index == 0 else "elif"
                parts.append(f"{{% {keyword} _bool({self.expr(test)}) %}}{self.nodes(body)}")
            if node.else_ is not None:
                parts.append("{% else %}" + self.nodes(node.else_))
            return "".join(parts) + "{% endif %}"
        if isinstance(node, For):
            head = f"{{% for v_{node.var} in _iter({self.expr(node.iterable)}) %}}"
            loop_body = self.nodes(node.body)
            if "v_loop" in loop_body:  # only then pay for Pebble's loop variable
                loop_body = "{% set v_loop = _loop(loop) %}" + loop_body
            else_ = "" if node.else_ is None else "{% else %}" + self.nodes(node.else_)
            return head + loop_body + else_ + "{% endfor %}"
        assert isinstance(node, FilterBlock)
        self._blocks += 1
        name = f"b_{self._blocks}"
        value = name
        for call in node.filters:
            check_filter(call.name, call.pos)
            value = self.filter_call(call.name, value, call.args, call.kwargs)
        return f"{{% set {name} %}}{self.nodes(node.body)}{{% endset %}}{{{{ {value} }}}}"

    def filter_call(self, name: str, value: str, args: tuple[Expr, ...],
                    kwargs: tuple[tuple[str, Expr], ...]) -> str:
        return f"_filter({self.const(name)}, {value}, {self.args(args, kwargs)})"

    def args(self, args: tuple[Expr, ...], kwargs: tuple[tuple[str, Expr], ...]) -> str:
        positional = ", ".join(self.expr(arg) for arg in args)
        named = ", ".join(f"{self.const(key)}: {self.expr(value)}" for key, value in kwargs)
        return f"[{positional}], {{{named}}}"

    def expr(self, expr: Expr) -> str:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise PebbleSyntaxError("expression is nested too deeply", getattr(expr, "pos", 0))
        try:
            return self._expr(expr)
        finally:
            self._depth -= 1

    def _expr(self, expr: Expr) -> str:
        if isinstance(expr, Const):
            return self.const(expr.value)
        if isinstance(expr, Name):
            if expr.name == "_context" and (self.scope is None or "_context" not in self.scope):
                return "_ctx()"
            if self.scope is not None and expr.name not in self.scope:
                hint = f"'{expr.name}' is undefined (a macro sees only its arguments)"
                return f"_undefined({self.const(hint)})"
            return f"v_{expr.name}"
        if isinstance(expr, Get):
            keys: list[str] = []
            sources: list[str] = []
            base: Expr = expr
            while isinstance(base, Get):
                keys.append(self.expr(base.key))
                sources.append(self.const(base.src))
                base = base.obj
            return (f"_path({self.expr(base)}, [{', '.join(reversed(keys))}], "
                    f"[{', '.join(reversed(sources))}])")
        if isinstance(expr, Call):
            return self.call(expr)
        if isinstance(expr, Filter):
            check_filter(expr.name, expr.pos)
            return self.filter_call(expr.name, self.expr(expr.value), expr.args, expr.kwargs)
        if isinstance(expr, Test):
            if expr.name not in TESTS:
                raise PebbleSyntaxError(f"unknown test '{expr.name}'{_guess(expr.name, TESTS)}",
                                        expr.pos)
            call = f"_is({self.const(expr.name)}, {self.expr(expr.value)}, " \
                   f"[{', '.join(self.expr(a) for a in expr.args)}])"
            return f"(not {call})" if expr.negated else call
        if isinstance(expr, Unary):
            if expr.op == "not":
                return f"(not _bool({self.expr(expr.operand)}))"
            return f"{'_neg' if expr.op == '-' else '_pos'}({self.expr(expr.operand)})"
        if isinstance(expr, Cond):
            return (f"({self.expr(expr.then)} if _bool({self.expr(expr.test)}) "
                    f"else {self.expr(expr.else_)})")
        if isinstance(expr, ListExpr):
            return f"_built([{', '.join(self.expr(item) for item in expr.items)}])"
        if isinstance(expr, MapExpr):
            pairs = ", ".join(f"{self.expr(k)}: {self.expr(v)}" for k, v in expr.pairs)
            return f"_built({{{pairs}}})"
        assert isinstance(expr, Binary)
        return self.binary(expr)

    def call(self, expr: Call) -> str:
        if expr.name in self.macros:
            named = ", ".join(f"{self.const('v_' + key)}: {self.expr(value)}" for key, value in expr.kwargs)
            positional = ", ".join(self.expr(arg) for arg in expr.args)
            return f"_macro(m_{expr.name}, [{positional}], {{{named}}})"
        if expr.name == "block" and len(expr.args) == 1 and isinstance(expr.args[0], Const):
            return self._block(expr.args[0].value, expr.pos)
        if expr.name in _CONTEXT_FUNCTIONS and not expr.args and not expr.kwargs:
            return "_ctx()"
        if expr.name == "currentEachOutput" and len(expr.args) == 1 and not expr.kwargs:
            return f"_call({self.const(expr.name)}, [{self.expr(expr.args[0])}, _ctx()], {{}})"
        return f"_call({self.const(expr.name)}, {self.args(expr.args, expr.kwargs)})"

    def binary(self, expr: Binary) -> str:
        op = expr.op
        if op == "~":
            parts: list[Expr] = []
            node: Expr = expr
            while isinstance(node, Binary) and node.op == "~":
                parts.append(node.right)
                node = node.left
            parts.append(node)
            return f"_cat([{', '.join(self.expr(p) for p in reversed(parts))}])"
        left, right = self.expr(expr.left), self.expr(expr.right)
        if op in ("or", "and"):
            return f"(_bool({left}) {op} _bool({right}))"
        if op in ("==", "equals"):
            return f"_eq({left}, {right})"
        if op == "!=":
            return f"(not _eq({left}, {right}))"
        if op in _COMPARE:
            return f"_cmp({self.const(op)}, {left}, {right})"
        if op in _MATH:
            return f"_math({self.const(op)}, {left}, {right})"
        if op == "contains":
            return f"_contains({left}, {right})"
        if op in ("in", "isIn"):
            return f"_in({left}, {right})"
        if op == "not in":
            return f"_not(_in({left}, {right}))"
        if op == "..":
            return f"_range({left}, {right})"
        if op in ("??", "???"):
            return f"(_take() if _keep({left}, {'true' if op == '???' else 'false'}) else {right})"
        raise PebbleSyntaxError(f"unsupported operator '{op}'", 0)
