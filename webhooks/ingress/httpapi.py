"""Flask-free shapes of an HTTP call and its answer, so route handlers outside webhooks/app.py
(the one module that imports flask) stay plain functions that tests can call directly; and
the checks of what a request carries (query parameters, path parts) that answer 400."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.errors import GitflowsError
from runner.language.schema import NAMESPACE


class Body(Protocol):
    """A request's body, read only when a handler asks (webhooks/app.py reads flask's)."""

    @property
    def is_json(self) -> bool:
        """Whether its content type says JSON."""

    def json(self) -> Any:
        """The body parsed as JSON whatever its content type; None when empty or not JSON."""

    def data(self, *, limit: int | None = None, cache: bool = True) -> bytes:
        """The raw bytes; `limit` replaces the server's body limit for this request (413)."""

    def form(self) -> dict[str, str]:
        """Form fields (url-encoded or multipart), then uploaded files as text."""


@dataclass(frozen=True)
class Bytes:
    """A Body held in memory: what a test hands a handler."""
    raw: bytes = b""
    is_json: bool = False

    def json(self) -> Any:
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    def data(self, *, limit: int | None = None, cache: bool = True) -> bytes:
        return self.raw

    def form(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class Call:
    params: Mapping[str, str]  # the parts of the URL rule, e.g. namespace, flow_id
    args: Mapping[str, str]  # the query string (first value of each name)
    headers: Mapping[str, str]  # names in lower case
    request: Body = field(default_factory=Bytes)  # the body, read on demand
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)  # every value of each name
    sent_headers: Sequence[tuple[str, str]] = ()  # (name, value) as the server read them

    @property
    def body(self) -> Any:
        """The JSON body, or None when there is none or it is not JSON."""
        return self.request.json()


@dataclass(frozen=True)
class Reply:
    status: int
    # JSON by default; with a content_type: bytes, str or an iterator of str (a stream) sent as is
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None  # the whole Content-Type header of a body that is not JSON


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # a Flask URL rule, e.g. /api/v1/flows/<namespace>/<flow_id>
    name: str  # the endpoint name, unique in the app
    handler: Callable[[Call], Reply]


def error(status: int, message: str, **extra: Any) -> Reply:
    """Errors answer {"message": …} like every other endpoint, with details beside it."""
    return Reply(status, {"message": message, **extra})


class BadRequestError(GitflowsError):
    """A malformed request (a query parameter, a branch name …): answered 400, not 422, as
    nothing about it can be right whatever the flow or the repository hold."""


# -- query parameters: the one place routes read them through ---------------------------------
# Parameters the server itself reads, wherever they appear: checked on every route before its
# view runs, so no malformed value reaches git, SQLite or int() (a 500 and a traceback).
NUMBERS = frozenset({"limit", "size", "page"})  # Kestra's paging names, and ours
TEXTS = frozenset({"repo", "ref", "flow", "state", "namespace", "trigger", "q", "before",
                   "branch", "base", "fromTask", "file", "wait", "message"})
MAX_NUMBER = 1_000_000
MAX_TEXT = 4096
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line separators


def has_control(value: str) -> bool:
    return CONTROL.search(value) is not None


def text(name: str, value: str) -> str:
    """A parameter's text, refused when it holds control characters or is absurdly long."""
    if has_control(value):
        raise BadRequestError(f"query parameter '{name}' holds a control character")
    if len(value) > MAX_TEXT:
        raise BadRequestError(f"query parameter '{name}' is longer than {MAX_TEXT} characters")
    return value


def integer(args: Mapping[str, str], name: str, default: int, *, high: int = MAX_NUMBER) -> int:
    """A positive integer parameter (absent or empty: default), at most `high` (larger values
    are clamped: a client asking for more than a page holds gets the page)."""
    raw = args.get(name, "").strip()
    if not raw:
        return default
    # ASCII digits only: int() takes '٣' and '+3', and raises on 5000 digits (a 500)
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(MAX_NUMBER)) or int(raw) < 1:
        raise BadRequestError(f"query parameter '{name}' must be a whole number from 1 to "
                              f"{MAX_NUMBER}, got '{_shown(raw)}'")
    return min(int(raw), high)


def check_query(pairs: Iterable[tuple[str, str]]) -> None:
    """Every value of the parameters the server reads (all of them, when repeated)."""
    for name, value in pairs:
        if name in NUMBERS:
            integer({name: value}, name, 1)
        elif name in TEXTS:
            text(name, value)


def check_path(params: Mapping[str, Any]) -> None:
    """The parts of the URL rule (namespace, flow id, execution id …) are user input too."""
    for name, value in params.items():
        if isinstance(value, str) and has_control(value):
            raise BadRequestError(f"'{name}' in the path holds a control character")


# -- execution ids in paths ------------------------------------------------------------------
# POST /api/v1/executions/{namespace}/{flowId} starts a flow, POST /api/v1/executions/{id}/kill
# acts on an execution: the same shape, so a flow named `kill` or `rerun` looked like an action.
# A namespace is lower-case words (runner/language/schema.py; anything else is an error) and an execution
# id a ULID in upper case: an action route takes only a first segment that cannot be a
# namespace, so every flow id starts its flow, whatever the server holds (no lookup decides).
_NAMESPACE = re.sub(r"\((?!\?)", "(?:", NAMESPACE.removeprefix("^").removesuffix("$"))
EXECUTION_ID = rf"(?!{_NAMESPACE}\Z)[^/]+"  # no capturing group: werkzeug numbers its own
EXECUTION_PART = "<execution:execution_id>"  # how an action route spells the execution id
_ACTION_RULE = re.compile(r"^(/api/v1/executions/)<(?:\w+:)?execution_id>(/[^<>/]+)$")


def is_execution_id(segment: str) -> bool:
    """Whether an action route takes this path segment (it is not a namespace)."""
    return re.fullmatch(EXECUTION_ID, segment) is not None


def action_rule(rule: str) -> str:
    """An action route's rule with its execution id typed (routes declared outside app.py)."""
    return _ACTION_RULE.sub(rf"\g<1>{EXECUTION_PART}\g<2>", rule)


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "…"
