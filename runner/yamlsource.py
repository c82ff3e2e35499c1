"""YAML text → plain data plus the source position of every node.

The only module that imports ruamel.yaml. Duplicate keys are rejected by the
loader; syntax errors become diagnostics, with hints for the copy-paste
mistakes seen most often (``key:value`` without a space, ``-id:``, ``"x"#``).
Those mistakes sometimes still load (the line is read as the continuation of
the value above it); they are reported too. An empty file and a file with
several documents are errors. Nothing here raises anything but YamlSyntaxError.

Hostile YAML is bounded (YamlLimits): file size, nesting depth and the nodes that
aliases add once expanded are checked while ruamel composes the node graph, where
an alias is still one shared reference, so a "billion laughs" file fails in
milliseconds at the alias that crosses the budget instead of being copied out.
"""

from __future__ import annotations

import os
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent, CollectionStartEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.reader import ReaderError

from runner.diagnostics import Diagnostic
from runner.yaml_hints import (
    LINE_BREAK,
    continuation_hints,
    diag,
    line_hints,
    lines_of,
    plain_problem,
)

Path = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line, column

MIB = 1024 * 1024


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on what one YAML file may cost to read; each breach is an error diagnostic.

    Real flows stay far below them: Kestra's own loader (SnakeYAML) allows 50 aliases
    to collections and 50 levels of nesting; a large flow is some tens of KiB and a few
    thousand nodes. Checking costs about half a millisecond per node of task mappings,
    so max_nodes bounds a file's time (about 10 s), max_bytes its memory.
    """

    max_bytes: int = MIB  # UTF-8 size of the file
    max_depth: int = 64  # nested mappings/sequences, aliases expanded
    max_alias_nodes: int = 10_000  # nodes that aliases (and << merges) add once expanded
    max_nodes: int = 20_000  # keys and values, aliases expanded: what checking costs


LIMITS = YamlLimits()


@dataclass
class Located:
    """Plain data (dict/list/str/int/float/bool/None) with node positions."""

    file: str
    data: Any
    key_pos: dict[Path, Pos] = field(default_factory=dict)
    value_pos: dict[Path, Pos] = field(default_factory=dict)
    nodes: int = 0  # keys and values, aliases expanded: what the document weighs

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


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps dates and times as the text written."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str)


class _BoundedComposer(Composer):
    """Counts while composing, before anything copies an alias out: the depth and nodes
    reached, each alias counting the size of what it stands for (memoised per node)."""

    def compose_document(self: Any) -> Any:
        self.nesting = self.nodes = self.expanded = 0
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) → (size, height)
        document = super().compose_document()
        self.loader.gitflows_nodes = self.nodes
        return document

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if isinstance(target, SequenceNode | MappingNode) and target.end_mark is None:
                self._refuse(event, "alias-expansion", f"alias *{event.anchor} is inside the "
                             "node it refers to; a flow cannot contain itself")
            if target is not None:
                self._count(event, *self._measure(target), alias=True)
            return super().compose_node(parent, index)
        nested = isinstance(event, CollectionStartEvent)
        self._count(event, 1, int(nested))
        self.nesting += nested
        try:
            return super().compose_node(parent, index)
        finally:
            self.nesting -= nested

    def _count(self, event: Any, size: int, height: int, alias: bool = False) -> None:
        limits: YamlLimits = self.loader.gitflows_limits
        self.nodes += size
        self.expanded += size if alias else 0
        what = f"alias *{event.anchor} expands to" if alias else "the YAML nests"
        if self.nesting + height > limits.max_depth:
            self._refuse(event, "nesting-too-deep", f"{what} deeper than {limits.max_depth} "
                         "levels of mappings and lists")
        if self.expanded > limits.max_alias_nodes:
            self._refuse(event, "alias-expansion",
                         f"aliases expand to more than {limits.max_alias_nodes:,} nodes by here "
                         f"(*{event.anchor} stands for {_count_text(size, limits)}); write "
                         "the repeated parts out, or share settings with pluginDefaults")
        if self.nodes > limits.max_nodes:
            self._refuse(event, "too-many-nodes",
                         f"the YAML holds more than {limits.max_nodes:,} values by here"
                         f"{', aliases expanded' if self.expanded else ''}; split the flow")

    def _measure(self, node: Node) -> tuple[int, int]:
        """(nodes, collection levels) of node expanded; the count is capped past every
        budget. Aliases only point at complete nodes (checked above): no cycles."""
        known = self.measured.get(id(node))
        if known is not None:
            return known
        if not isinstance(node, SequenceNode | MappingNode):
            return (1, 0)
        cap = self.loader.gitflows_limits.max_nodes + 1
        children = node.value if isinstance(node, SequenceNode) else \
            [child for pair in node.value for child in pair]
        size, height = 1, 0
        for child in children:
            child_size, child_height = self._measure(child)
            size, height = min(size + child_size, cap), max(height, child_height)
        self.measured[id(node)] = (size, height + 1)
        return size, height + 1

    def _refuse(self, event: Any, code: str, message: str) -> None:
        mark = event.start_mark
        raise YamlSyntaxError([diag(self.loader.gitflows_file, mark.line + 1, mark.column + 1,
                                     code, message)])


def _count_text(size: int, limits: YamlLimits) -> str:
    return f"over {limits.max_nodes:,}" if size > limits.max_nodes else f"{size:,}"


def too_large(text: str, file: str, limits: YamlLimits = LIMITS,
              size: int | None = None) -> YamlSyntaxError | None:
    """The error for a file over limits.max_bytes (at the line that crosses it), else None.
    size: the whole file's, when text is only its beginning."""
    if size is None and len(text) <= limits.max_bytes // 4:  # 4 bytes per character at most
        return None
    encoded = text.encode("utf-8", "surrogatepass")
    size = len(encoded) if size is None else size
    if size <= limits.max_bytes:
        return None
    line, col = _offset_pos(text, len(encoded[: limits.max_bytes].decode("utf-8", "ignore")))
    return YamlSyntaxError([diag(
        file, line, col, "file-too-large", f"the file is {size:,} bytes, over the "
        f"{limits.max_bytes:,} a YAML file may hold (this line crosses it); split the flow, "
        "or keep large data in namespace files")])


def read_source(path: str | os.PathLike[str], limits: YamlLimits = LIMITS,
                errors: str = "strict") -> str:
    """A YAML file's text; YamlSyntaxError (file-too-large) without reading past the limit.
    OSError and UnicodeDecodeError as open/read raise them."""
    with open(path, "rb") as stream:
        head = stream.read(limits.max_bytes + 1)
        if len(head) <= limits.max_bytes:
            return head.decode("utf-8", errors)
        size = os.fstat(stream.fileno()).st_size
    error = too_large(head.decode("utf-8", "ignore"), str(path), limits, max(size, len(head)))
    assert error is not None
    raise error


def load(text: str, file: str, limits: YamlLimits = LIMITS) -> Located:
    oversize = too_large(text, file, limits)
    if oversize is not None:
        raise oversize
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _Constructor
    yaml.Composer = _BoundedComposer
    yaml.gitflows_limits = limits  # type: ignore[attr-defined]  # read by _BoundedComposer
    yaml.gitflows_file = file  # type: ignore[attr-defined]
    try:
        root = yaml.load(text)
    except YamlSyntaxError:
        raise
    except DuplicateKeyError as err:
        raise YamlSyntaxError([_marked(err, file, "duplicate-key", _duplicate_message(err))]) from None
    except ComposerError as err:
        if "another document" not in str(err.problem):
            raise YamlSyntaxError(_syntax_diagnostics(err, text, file)) from None
        raise YamlSyntaxError([_marked(err, file, "multiple-documents", _MULTIPLE)]) from None
    except MarkedYAMLError as err:
        raise YamlSyntaxError(_syntax_diagnostics(err, text, file)) from None
    except ReaderError as err:
        line, col = _offset_pos(text, err.position)
        raise YamlSyntaxError([diag(file, line, col, "yaml-syntax",
                                     f"{err.reason} (character {_char_name(err.character)})")]) from None
    except RecursionError:
        raise YamlSyntaxError([diag(file, 1, 1, "yaml-syntax", "the YAML is nested too deeply")]) \
            from None
    except Exception as err:
        # the constructors raise plain ValueError, IndexError… for e.g. `!!int x` or
        # `!!float nope`: rare, unmarked, and still never a stack trace
        raise YamlSyntaxError([diag(file, 1, 1, "yaml-syntax",
                                     f"cannot read the YAML: {_one_line(str(err))}")]) from None
    if root is None:
        raise YamlSyntaxError([diag(file, 1, 1, "empty-file", "the file holds no YAML document; "
                                     "a flow is a mapping with at least id, namespace and tasks")])
    located = Located(file=file, data=None, nodes=getattr(yaml, "gitflows_nodes", 0))
    located.value_pos[()] = _document_start(root, text)
    plain: list[tuple[Pos, str]] = []
    try:
        located.data = _convert(root, (), located, plain, set())
    except RecursionError:
        raise YamlSyntaxError([diag(file, 1, 1, "yaml-syntax", "the YAML is nested too deeply")]) \
            from None
    hints = continuation_hints(text, file, located, plain)
    if hints:
        raise YamlSyntaxError(hints)
    return located


_MULTIPLE = ("a flow file holds one YAML document, and this '---' starts another; "
             "remove it, or put each flow in a file of its own")


def _convert(node: Any, path: Path, located: Located, plain: list[tuple[Pos, str]],
             active: set[int]) -> Any:
    if isinstance(node, CommentedMap | CommentedSeq):
        if id(node) in active:  # an alias that contains itself
            return None
        active.add(id(node))
        try:
            return _convert_collection(node, path, located, plain, active)
        finally:
            active.discard(id(node))
    if type(node) is str:  # plain or quoted; block scalars (| and >) are str subclasses
        plain.append((located.value_at(path), node))
    return _scalar(node)


def _convert_collection(node: CommentedMap | CommentedSeq, path: Path, located: Located,
                        plain: list[tuple[Pos, str]], active: set[int]) -> Any:
    here = located.value_at(path)
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, str(key))
            located.key_pos[child] = _lc(node, "key", key) or here
            located.value_pos[child] = _lc(node, "value", key) or located.key_pos[child]
            out[str(key)] = _convert(node[key], child, located, plain, active)
        return out
    items = []
    for index, item in enumerate(node):
        child = (*path, index)
        located.value_pos[child] = _lc(node, "item", index) or here
        items.append(_convert(item, child, located, plain, active))
    return items


def _document_start(root: Any, text: str) -> Pos:
    if isinstance(root, CommentedMap | CommentedSeq):
        try:
            return (int(root.lc.line) + 1, int(root.lc.col) + 1)
        except (AttributeError, TypeError, ValueError):
            pass
    for number, line in enumerate(lines_of(text), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "%", "---")):
            return (number, len(line) - len(line.lstrip()) + 1)
    return (1, 1)


def _lc(node: CommentedMap | CommentedSeq, what: str, key: Any) -> Pos | None:
    """ruamel's 0-based position of a key/value/item as 1-based; None if unknown (merged keys)."""
    try:
        found = getattr(node.lc, what)(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if not isinstance(found, tuple | list) or len(found) != 2:
        return None
    return (int(found[0]) + 1, int(found[1]) + 1)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Set):  # !!set
        return sorted(str(v) for v in value)
    return str(value)


def _marked(err: MarkedYAMLError, file: str, code: str, message: str) -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return diag(file, line, col, code, message)


def _offset_pos(text: str, offset: int) -> Pos:
    before = LINE_BREAK.split(text[: max(offset, 0)])
    return (len(before), len(before[-1]) + 1)


def _char_name(char: Any) -> str:
    if isinstance(char, str) and len(char) == 1:
        char = ord(char)
    return f"U+{char:04X}" if isinstance(char, int) else repr(char)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _duplicate_message(err: DuplicateKeyError) -> str:
    problem = str(err.problem or "duplicate key")
    first = err.context_mark
    where = f" (first defined at line {first.line + 1})" if first else ""
    return f"{problem.split(' with value')[0]}{where}"


def _syntax_diagnostics(err: MarkedYAMLError, text: str, file: str) -> list[Diagnostic]:
    hints = list(line_hints(text, file))
    problem = str(err.problem or "invalid YAML")
    mark, opened = err.problem_mark or err.context_mark, err.context_mark
    plain = plain_problem(problem, err.context, (mark.line + 1, mark.column + 1) if mark else
                          (1, 1), (opened.line + 1, opened.column + 1) if opened else None,
                          lines_of(text))
    if plain is not None:
        problem = plain
    elif err.context:
        problem = f"{problem} ({err.context}"
        if err.context_mark:
            problem += f" at line {err.context_mark.line + 1}"
        problem += ")"
    parser = _marked(err, file, "yaml-syntax", problem)
    first = err.context_mark.line + 1 if err.context_mark else parser.line
    explained = any(first <= h.line <= parser.line for h in hints)
    return sorted(hints if explained else [*hints, parser])
