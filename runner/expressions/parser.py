"""Pebble source → syntax tree, with Pebble's operator precedences.

Precedences (higher binds tighter): or 10, and 15, is/is not/contains and Kestra's
in/not in/isIn 20, comparisons and `equals` 30, + - 40, * / % 60, `|` 100, `~` 110,
`..`/`??`/`???` 120; unary not/-/+ 500 (so `not a == b` is `(not a) == b`, as in Pebble); the
ternary `c ? a : b` is the loosest. Method calls are refused here.
"""

from __future__ import annotations

from runner.expressions.errors import PebbleSyntaxError
from runner.expressions.lexer import Segment, Token, split_template, tokenize
from runner.expressions.nodes import (
    Binary,
    Block,
    Call,
    Cond,
    Const,
    Expr,
    Filter,
    FilterBlock,
    FilterCall,
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

BINARY = {"or": 10, "and": 15, "is": 20, "is not": 20, "contains": 20, "in": 20, "not in": 20,
          "isIn": 20, "==": 30, "equals": 30,
          "!=": 30, "<": 30, ">": 30, "<=": 30, ">=": 30, "+": 40, "-": 40, "*": 60, "/": 60,
          "%": 60, "|": 100, "~": 110, "..": 120, "??": 120, "???": 120}
_WORD_OPS = frozenset({"or", "and", "is", "contains", "equals", "not", "in", "isIn"})
MAX_DEPTH = 40  # nesting of parentheses, literals, calls and blocks
MAX_SEGMENTS = 5_000  # texts, prints and tags in one template (compiling is linear but not cheap)
MAX_TOKENS = 10_000  # expression tokens in one template
_UNSUPPORTED = frozenset({"extends", "include", "import", "from", "embed", "parallel", "cache",
                          "flush", "autoescape"})


class _Expressions:
    def __init__(self, src: str, tokens: list[Token]) -> None:
        self.src = src
        self.toks = tokens
        self.i = 0
        self.depth = 0

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def at(self, op: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value == op

    def expect(self, op: str) -> Token:
        tok = self.next()
        if tok.kind != "op" or tok.value != op:
            raise PebbleSyntaxError(f"expected '{op}' but found {_describe(tok)}", tok.pos)
        return tok

    def name(self, what: str) -> Token:
        tok = self.next()
        if tok.kind != "name":
            raise PebbleSyntaxError(f"expected {what} but found {_describe(tok)}", tok.pos)
        return tok

    def end(self) -> None:
        tok = self.peek()
        if tok.kind != "eof":
            raise PebbleSyntaxError(f"unexpected {_describe(tok)}", tok.pos)

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PebbleSyntaxError("expression is nested too deeply", self.peek().pos)

    def _binary(self) -> tuple[str, int] | None:
        tok = self.peek()
        if tok.kind == "op" and tok.value in BINARY:
            return tok.value, 1
        if tok.kind == "name" and tok.value in (*BINARY, "not"):
            after = self.peek(1)
            if tok.value in ("is", "not") and after.kind == "name" and after.value in ("not", "in"):
                return f"{tok.value} {after.value}", 2
            return (tok.value, 1) if tok.value in BINARY else None
        return None

    def expression(self, min_prec: int = 0) -> Expr:
        self._enter()
        tok = self.peek()
        left: Expr
        if (tok.kind == "op" and tok.value in ("-", "+")) or (tok.kind == "name" and tok.value == "not"):
            self.next()
            left = Unary(tok.value, self.expression(500))
        else:
            left = self.postfix(self.primary(), tok.pos)
        while (found := self._binary()) is not None and BINARY[found[0]] >= min_prec:
            op, width = found
            self.i += width
            if op == "|":
                left = self.filter(left)
            elif op in ("is", "is not"):
                test = self.name("a test name after 'is'")
                args = self.arguments()[0] if self.at("(") else ()
                left = Test(left, test.value, op == "is not", args, test.pos)
            else:
                left = Binary(op, left, self.expression(BINARY[op] + 1))
        if min_prec == 0 and self.at("?"):
            self.next()
            then = self.expression()
            self.expect(":")
            left = Cond(left, then, self.expression())
        self.depth -= 1
        return left

    def filter(self, value: Expr) -> Filter:
        tok = self.name("a filter name after '|'")
        args, kwargs = self.arguments() if self.at("(") else ((), ())
        return Filter(value, tok.value, args, kwargs, tok.pos)

    def filter_call(self) -> FilterCall:
        tok = self.name("a filter name")
        args, kwargs = self.arguments() if self.at("(") else ((), ())
        return FilterCall(tok.value, args, kwargs, tok.pos)

    def primary(self) -> Expr:
        tok = self.next()
        if tok.kind in ("num", "str"):
            return Const(tok.value)
        if tok.kind == "name" and tok.value not in _WORD_OPS:
            if tok.value in ("true", "false"):
                return Const(tok.value == "true")
            if tok.value in ("null", "none"):
                return Const(None)
            if self.at("("):
                self._enter()
                args, kwargs = self.arguments()
                self.depth -= 1
                return Call(tok.value, args, kwargs, tok.pos)
            return Name(tok.value, tok.pos)
        if tok.kind == "op" and tok.value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if tok.kind == "op" and tok.value in ("[", "{"):
            self._enter()
            literal = self.collection(tok.value)
            self.depth -= 1
            return literal
        raise PebbleSyntaxError(f"unexpected {_describe(tok)}", tok.pos)

    def collection(self, opener: str) -> Expr:
        closer = "]" if opener == "[" else "}"
        items: list[Expr] = []
        pairs: list[tuple[Expr, Expr]] = []
        while not self.at(closer):
            if opener == "[":
                items.append(self.expression())
            else:
                key = self.expression()
                self.expect(":")
                pairs.append((key, self.expression()))
            if not self.at(closer):
                self.expect(",")
        self.next()
        return ListExpr(tuple(items)) if opener == "[" else MapExpr(tuple(pairs))

    def postfix(self, expr: Expr, start: int) -> Expr:
        for _ in range(MAX_DEPTH + 1):
            if self.at("."):
                self.next()
                tok = self.next()
                if tok.kind not in ("name", "num") or isinstance(tok.value, float):
                    raise PebbleSyntaxError(f"expected an attribute name after '.' but found "
                                            f"{_describe(tok)}", tok.pos)
                if self.at("("):
                    raise PebbleSyntaxError(f"method calls are not supported ('.{tok.value}(…)')",
                                            tok.pos)
                expr = Get(expr, Const(tok.value), self.src[start:tok.end])
            elif self.at("["):
                self.next()
                key = self.expression()
                close = self.expect("]")
                expr = Get(expr, key, self.src[start:close.end])
            else:
                return expr
        raise PebbleSyntaxError("too many attribute accesses in a row", start)

    def arguments(self) -> tuple[tuple[Expr, ...], tuple[tuple[str, Expr], ...]]:
        self.expect("(")
        args: list[Expr] = []
        kwargs: list[tuple[str, Expr]] = []
        while not self.at(")"):
            tok, after = self.peek(), self.peek(1)
            if tok.kind == "name" and after.kind == "op" and after.value == "=":
                self.i += 2
                kwargs.append((tok.value, self.expression()))
            elif kwargs:
                raise PebbleSyntaxError("a positional argument cannot follow a named one", tok.pos)
            else:
                args.append(self.expression())
            if not self.at(")"):
                self.expect(",")
        self.next()
        return tuple(args), tuple(kwargs)


def parse_expression(src: str, start: int = 0, end: int | None = None) -> Expr:
    parser = _Expressions(src, tokenize(src, start, len(src) if end is None else end))
    expr = parser.expression()
    parser.end()
    return expr


def parse_template(src: str) -> tuple[Node, ...]:
    segments = split_template(src)
    if len(segments) > MAX_SEGMENTS:
        raise PebbleSyntaxError(f"template is too large (more than {MAX_SEGMENTS} texts, tags and "
                                "expressions)", segments[MAX_SEGMENTS].offset)
    return _Template(src, segments).parse()


class _Template:
    def __init__(self, src: str, segments: list[Segment]) -> None:
        self.src = src
        self.segments = segments
        self.i = 0
        self.depth = 0
        self.tokens = 0

    def expressions(self, seg: Segment) -> _Expressions:
        tokens = tokenize(self.src, seg.offset, seg.offset + len(seg.body))
        self.tokens += len(tokens)
        if self.tokens > MAX_TOKENS:
            raise PebbleSyntaxError(f"template is too large (more than {MAX_TOKENS} tokens)", seg.offset)
        return _Expressions(self.src, tokens)

    def parse(self) -> tuple[Node, ...]:
        nodes, end = self.block(())
        if end is not None:
            raise PebbleSyntaxError(f"unexpected '{{% {end[0]} %}}'", end[1].offset)
        return nodes

    def block(self, ends: tuple[str, ...]) -> tuple[tuple[Node, ...], tuple[str, Segment] | None]:
        """Nodes up to one of the end tags; the end tag's name and segment (None at EOF)."""
        self.depth += 1
        if self.depth > MAX_DEPTH // 2:
            raise PebbleSyntaxError("tags are nested too deeply", self.segments[self.i - 1].offset)
        nodes: list[Node] = []
        while self.i < len(self.segments):
            seg = self.segments[self.i]
            self.i += 1
            if seg.kind == "text":
                nodes.append(Text(seg.body))
                continue
            parser = self.expressions(seg)
            if seg.kind == "print":
                expr = parser.expression()
                parser.end()
                nodes.append(Output(expr))
                continue
            tag = parser.name("a tag name")
            if tag.value in ends:
                self.depth -= 1
                return tuple(nodes), (tag.value, seg)
            nodes.append(self.tag(tag, parser, seg))
        if ends:
            raise PebbleSyntaxError(f"missing '{{% {ends[-1]} %}}'", len(self.src))
        self.depth -= 1
        return tuple(nodes), None

    def tag(self, tag: Token, parser: _Expressions, seg: Segment) -> Node:
        name = tag.value
        if name == "if":
            return self.if_tag(parser)
        if name == "for":
            var = parser.name("a loop variable")
            word = parser.name("'in'")
            if word.value != "in":
                raise PebbleSyntaxError("expected 'in'", word.pos)
            iterable = parser.expression()
            parser.end()
            body, end = self.block(("else", "endfor"))
            else_ = None
            if end is not None and end[0] == "else":
                _no_arguments(self.src, end[1])
                else_, end = self.block(("endfor",))
            return For(var.value, iterable, body, else_)
        if name == "set":
            var = parser.name("a variable name")
            parser.expect("=")
            expr = parser.expression()
            parser.end()
            return Set(var.value, expr)
        if name == "filter":
            calls = [parser.filter_call()]
            while parser.at("|"):
                parser.next()
                calls.append(parser.filter_call())
            parser.end()
            body, _ = self.block(("endfilter",))
            return FilterBlock(tuple(calls), body)
        if name == "macro":
            return self.macro(tag, parser)
        if name == "block":
            label = parser.next()
            if label.kind not in ("name", "str"):
                raise PebbleSyntaxError(f"expected a block name but found {_describe(label)}", label.pos)
            parser.end()
            body, _ = self.block(("endblock",))
            return Block(str(label.value), body)
        if name in _UNSUPPORTED:
            raise PebbleSyntaxError(f"the '{{% {name} %}}' tag is not supported", tag.pos)
        if name.startswith("end") or name in ("else", "elseif"):
            raise PebbleSyntaxError(f"unexpected '{{% {name} %}}'", tag.pos)
        raise PebbleSyntaxError(f"unknown tag '{name}'", tag.pos)

    def macro(self, tag: Token, parser: _Expressions) -> Macro:
        name = parser.name("a macro name")
        parser.expect("(")
        params: list[tuple[str, Expr | None]] = []
        while not parser.at(")"):
            param = parser.name("an argument name")
            default = None
            if parser.at("="):
                parser.next()
                default = parser.expression()
            params.append((param.value, default))
            if not parser.at(")"):
                parser.expect(",")
        parser.next()
        parser.end()
        body, _ = self.block(("endmacro",))
        return Macro(name.value, tuple(params), body, tag.pos)

    def if_tag(self, parser: _Expressions) -> If:
        branches: list[tuple[Expr, tuple[Node, ...]]] = []
        test = parser.expression()
        parser.end()
        while True:
            body, end = self.block(("elseif", "else", "endif"))
            branches.append((test, body))
            assert end is not None
            if end[0] == "endif":
                return If(tuple(branches), None)
            if end[0] == "else":
                _no_arguments(self.src, end[1])
                else_, _ = self.block(("endif",))
                return If(tuple(branches), else_)
            seg = end[1]
            again = self.expressions(seg)
            again.next()  # the 'elseif' keyword
            test = again.expression()
            again.end()


def _no_arguments(src: str, seg: Segment) -> None:
    parser = _Expressions(src, tokenize(src, seg.offset, seg.offset + len(seg.body)))
    parser.next()
    parser.end()


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of expression"
    if tok.kind == "str":
        return f"string '{tok.value}'"
    return f"'{tok.value}'"
