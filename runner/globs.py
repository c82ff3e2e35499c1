"""GitHub Actions filter patterns (branches, tags, paths), compiled once to regular expressions.

The syntax is GitHub's "filter pattern cheat sheet":

- ``*``  zero or more characters except ``/``;
- ``**`` zero or more of any character, ``/`` included; ``**/`` also matches nothing,
  so ``**/README.md`` matches ``README.md`` at the root;
- ``?``  zero or one of the preceding character (``*.jsx?`` matches ``page.js`` and ``page.jsx``);
- ``+``  one or more of the preceding character (``v[12].[0-9]+`` matches ``v1.10``);
- ``[]`` one letter or digit listed in the brackets, or in a range ``a-z``, ``A-Z``, ``0-9``
  (or a part of one, ``[0-9a-f]``); anything else inside brackets is an error;
- ``\\`` escapes the next character, for a literal ``*``, ``?``, ``+``, ``[`` or leading ``!``;
- ``!`` first in a pattern negates it: the pattern excludes what it matches.

A ``?`` or ``+`` at the very start of a pattern has nothing to repeat and is literal;
a ``]`` outside brackets is literal too.

Lists are evaluated in order and the last matching pattern wins: a name is included
when the last pattern that matches it is positive (``['*.md', '!README.md', 'README*']``
includes ``README.md`` again). A name no pattern matches is not included.

Branches and tags versus paths: the syntax is the same and every pattern matches the
whole name (``re.fullmatch``), case-sensitively. Branch and tag patterns see the short
name (``main``, ``v1.2.0``; not ``refs/heads/main``). Path patterns see the path from
the repository root without a leading ``/`` or ``./`` (such a pattern never matches;
``check_patterns`` warns about it). How a list applies differs: a ref matches when it
is included; a change matches ``paths`` when at least one changed path is included,
and ``paths-ignore`` when at least one changed path is not ignored (runner/triggers/git.py).

``compile_pattern`` raises ValueError with the position of the problem for an invalid
pattern; matching never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_RANGES = (("a", "z"), ("A", "Z"), ("0", "9"))


@dataclass(frozen=True)
class Pattern:
    source: str  # as written, with a leading '!' if negated
    negated: bool
    regex: re.Pattern[str]

    def matches(self, name: str) -> bool:
        """Does the pattern (ignoring its '!') match the whole name?"""
        return self.regex.fullmatch(name) is not None


@dataclass
class _Atom:
    """One regex unit with its quantifier ('', '?', '+', '*') kept apart, so a `+` or `?`
    after a quantified unit combines quantifiers instead of nesting them (no nested
    quantifiers, no catastrophic backtracking)."""

    body: str
    quant: str = ""
    wildcard: str = ""  # one ('*'), any ('**'), dirs ('**/'): closed under repetition

    def repeat(self, op: str) -> None:
        if self.wildcard:
            return  # ([^/]*)+ is [^/]*, (.*)? is .*, ((.+/)?)+ is (.+/)?
        table = {"+": {"": "+", "?": "*"}, "?": {"": "?", "+": "*"}}[op]
        self.quant = table.get(self.quant, self.quant)

    def text(self) -> str:
        return self.body + self.quant


_WILDCARDS = {"one": ("[^/]", "*"), "any": (".", "*"), "dirs": ("(?:.+/)", "?")}


class _Bad(Exception):
    def __init__(self, pos: int, why: str) -> None:
        super().__init__(why)
        self.pos, self.why = pos, why


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _bracket(body: str, start: int) -> tuple[str, int]:
    """Regex class for the `[...]` opening at start; the index after its `]`."""
    pos = start + 1
    parts: list[str] = []
    while pos < len(body) and body[pos] != "]":
        char = body[pos]
        if not _is_alnum(char):
            raise _Bad(pos, f"'{char}' in brackets; only letters, digits and ranges "
                            "a-z, A-Z, 0-9 may be listed")
        if pos + 2 < len(body) and body[pos + 1] == "-" and body[pos + 2] != "]":
            end = body[pos + 2]
            if not any(lo <= char <= end <= hi for lo, hi in _RANGES):
                raise _Bad(pos, f"range '{char}-{end}'; a range lies within a-z, A-Z or 0-9, "
                                "low to high")
            parts.append(f"{char}-{end}")
            pos += 3
        else:
            parts.append(char)
            pos += 1
    if pos >= len(body):
        raise _Bad(start, "'[' without a closing ']'")
    if not parts:
        raise _Bad(start, "empty brackets '[]'")
    return "[" + "".join(parts) + "]", pos + 1


def _add_wildcard(atoms: list[_Atom], kind: str) -> None:
    """Append a wildcard, merging it with a wildcard just before it where one absorbs
    the other (`**` then `*` is `**`; `**/**/` is `**/`)."""
    prev = atoms[-1].wildcard if atoms else ""
    if prev == "any" or (prev == kind == "dirs"):
        return
    if kind == "any" and prev:
        atoms.pop()
    atoms.append(_Atom(*_WILDCARDS[kind], wildcard=kind))


def _to_regex(body: str) -> str:
    atoms: list[_Atom] = []
    pos = 0
    while pos < len(body):
        char = body[pos]
        if char == "*":
            if body.startswith("**/", pos):
                _add_wildcard(atoms, "dirs")
                pos += 3
            elif body.startswith("**", pos):
                _add_wildcard(atoms, "any")
                pos += 2
            else:
                _add_wildcard(atoms, "one")
                pos += 1
        elif char in "+?":
            if atoms:
                atoms[-1].repeat(char)
            else:  # nothing to repeat: literal
                atoms.append(_Atom(re.escape(char)))
            pos += 1
        elif char == "[":
            regex, pos = _bracket(body, pos)
            atoms.append(_Atom(regex))
        elif char == "\\":
            if pos + 1 >= len(body):
                raise _Bad(pos, "'\\' at the end escapes nothing")
            atoms.append(_Atom(re.escape(body[pos + 1])))
            pos += 2
        else:
            atoms.append(_Atom(re.escape(char)))
            pos += 1
    return "".join(atom.text() for atom in atoms)


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Pattern:
    """Compile one filter pattern; ValueError (saying where and why) if it is invalid."""
    if not isinstance(pattern, str):
        raise ValueError(f"a filter pattern is a string, not {type(pattern).__name__}")
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    if not body:
        raise ValueError("an empty filter pattern matches nothing" if not negated else
                         "filter pattern '!' negates nothing; write '!' followed by a pattern")
    try:
        regex = _to_regex(body)
    except _Bad as err:
        column = err.pos + 1 + (1 if negated else 0)
        raise ValueError(f"invalid filter pattern '{pattern}' at position {column}: {err.why}") \
            from None
    return Pattern(pattern, negated, re.compile(regex, re.DOTALL))


def _compiled(patterns: Iterable[str]) -> tuple[Pattern, ...]:
    return tuple(compile_pattern(p) for p in patterns)


def last_match(patterns: Sequence[str], name: str) -> Pattern | None:
    """The last pattern of the list that matches name (negated or not), or None."""
    for pattern in reversed(_compiled(patterns)):
        if pattern.matches(name):
            return pattern
    return None


def included(patterns: Sequence[str], name: str) -> bool:
    """Is name selected by the list (last match wins, and it is not a '!' pattern)?"""
    found = last_match(patterns, name)
    return found is not None and not found.negated


def any_included(patterns: Sequence[str], names: Iterable[str]) -> bool:
    """Does at least one name pass the list (GitHub's `paths`)?"""
    return any(included(patterns, name) for name in names)


def any_not_ignored(patterns: Sequence[str], names: Iterable[str]) -> bool:
    """Is at least one name left over by an ignore list (GitHub's `paths-ignore`)?"""
    return any(not included(patterns, name) for name in names)


@dataclass(frozen=True)
class PatternProblem:
    index: int  # position of the pattern in its list
    severity: str  # error | warning
    message: str


def check_patterns(patterns: Sequence[object], *, include_list: bool,
                   paths: bool = False) -> list[PatternProblem]:
    """What is wrong with a filter list, as data (lint surfaces it).

    Errors: a pattern that does not compile; an include list (``branches``, ``tags``,
    ``paths``) made only of '!' patterns — GitHub requires at least one positive one.
    Warnings: a '!' pattern before any positive one (it negates nothing); a path
    pattern starting with '/' or './' (paths are matched from the root without them).
    """
    problems: list[PatternProblem] = []
    seen_positive = False
    for index, raw in enumerate(patterns):
        if not isinstance(raw, str):
            problems.append(PatternProblem(index, "error", "a filter pattern must be a string"))
            continue
        try:
            pattern = compile_pattern(raw)
        except ValueError as err:
            problems.append(PatternProblem(index, "error", str(err)))
            continue
        body = raw[1:] if pattern.negated else raw
        if paths and body.startswith(("/", "./")):
            problems.append(PatternProblem(index, "warning", f"path pattern '{raw}' never matches: "
                                           "paths are relative to the repository root, "
                                           "without a leading '/' or './'"))
        if pattern.negated and not seen_positive and include_list:
            problems.append(PatternProblem(index, "warning", f"'{raw}' comes before any positive "
                                           "pattern and negates nothing"))
        seen_positive = seen_positive or not pattern.negated
    strings = [p for p in patterns if isinstance(p, str)]
    if include_list and strings and all(p.startswith("!") for p in strings):
        problems.append(PatternProblem(0, "error", "a filter made only of '!' patterns matches "
                                       "nothing; add at least one positive pattern (or use "
                                       "the -ignore filter to exclude only)"))
    return problems
