"""Kestra's regexMatch, regexExtract and regexReplace filters, on RE2 (the google-re2
package): matching takes time linear in the text whatever the pattern, so a user's
pattern cannot backtrack for hours. RE2 has no backreferences or lookaround; such a
pattern is refused with RE2's reason. Replacements use Java's `$1` / `${name}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]

from runner.expressions.errors import EvalError
from runner.expressions.runtime import MAX_STRING, fits, poll, to_text

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is the user's error, not a server log line
_OPTIONS.max_mem = 32 << 20  # RE2's own bound on a compiled pattern
_JAVA_GROUP = re.compile(r"\\(.)|\$(\d+)|\$\{([A-Za-z][A-Za-z0-9]*)\}|(\$)", re.DOTALL)
MAX_PATTERN = 10_000


def strings(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter on text: null passes through, anything else is printed first."""
    def apply(value: Any, *args: Any, **named: Any) -> Any:
        return None if value is None else fn(to_text(value), *args, **named)
    return apply


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN:
        raise EvalError(f"a regular expression is longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise EvalError(f"invalid regular expression '{pattern}': {reason}") from None


def _regex(regex: Any, name: str) -> Any:
    if regex is None:
        raise EvalError(f"{name}: the argument 'regex' is required")
    return compile_pattern(to_text(regex))


def regex_match(value: Any, regex: Any = None) -> bool:
    """True when a part of the text matches (find, not a whole-text match)."""
    pattern = _regex(regex, "regexMatch")
    return value is not None and pattern.search(to_text(value)) is not None


@strings
def regex_extract(text: str, regex: Any = None, group: Any = 0) -> Any:
    pattern = _regex(regex, "regexExtract")
    if not isinstance(group, int) or isinstance(group, bool) or group < 0:
        raise EvalError("regexExtract: the group must be an integer >= 0")
    found = pattern.search(text)
    if found is None:
        return None
    if group > pattern.groups:
        raise EvalError(f"regexExtract: group {group} is out of bounds: the pattern has only "
                        f"{pattern.groups} capture group(s)")
    return found.group(group)


def _expander(replacement: str, pattern: Any) -> Callable[[Any], str]:
    parts: list[tuple[str, Any]] = []  # ("text", s) or ("group", index or name)
    last = 0
    for piece in _JAVA_GROUP.finditer(replacement):
        parts.append(("text", replacement[last:piece.start()]))
        escaped, number, name, bare = piece.groups()
        if bare is not None:
            raise EvalError("regexReplace: '$' must be followed by a group number or {name}")
        if escaped is not None:
            parts.append(("text", escaped))
        else:
            key: Any = int(number) if number is not None else name
            if (isinstance(key, int) and key > pattern.groups) or \
                    (isinstance(key, str) and key not in pattern.groupindex):
                raise EvalError(f"regexReplace: no group {key} in the pattern")
            parts.append(("group", key))
        last = piece.end()
    parts.append(("text", replacement[last:]))
    return lambda match: "".join(v if k == "text" else (match.group(v) or "") for k, v in parts)


@strings
def regex_replace(text: str, regex: Any = None, replacement: Any = None) -> str:
    pattern = _regex(regex, "regexReplace")
    if replacement is None:
        raise EvalError("regexReplace: the argument 'replacement' is required")
    expand = _expander(to_text(replacement), pattern)
    pieces: list[str] = []
    size = last = 0
    for count, match in enumerate(pattern.finditer(text), 1):
        poll(count)
        pieces += [text[last:match.start()], expand(match)]
        size = fits(size + len(pieces[-2]) + len(pieces[-1]), "regexReplace", MAX_STRING)
        last = match.end()
    pieces.append(text[last:])
    fits(size + len(pieces[-1]), "regexReplace", MAX_STRING)
    return "".join(pieces)


REGEX_FILTERS: dict[str, Callable[..., Any]] = {
    "regexMatch": regex_match, "regexExtract": regex_extract, "regexReplace": regex_replace,
}
