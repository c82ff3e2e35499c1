"""The normalised webhook event: one model for GitHub, Gitea/Forgejo and GitLab deliveries.

A provider turns a verified delivery into a `Push`, a `PullRequest` or a `Ping`
(together: `Event`), or into `Ignored(reason)` for events gitflows does not act on.
Everything here is plain data: frozen dataclasses, JSON-ready through `as_dict()`,
rebuilt by `event_from_dict()`.

Conventions:
- `repo` is the repository full name (GitHub/Gitea `repository.full_name`, GitLab
  `project.path_with_namespace`), the name `repos[].name` in the server configuration matches.
- A push's `ref` is the full ref (`refs/heads/main`); `branch` / `tag` are the short names.
  A pull request's `base_ref` / `head_ref` are branch names (`main`), as GitHub sends them.
- `changed_paths` is a hint taken from the payload: providers cap the commit list, so
  path filters must compute the diff with git (before..after) and use this only as a shortcut.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

ZERO_SHA = "0" * 40
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"

# The pull request actions every provider is normalised to. Other provider actions
# (GitHub `labeled`, `edited`, `ready_for_review`, GitLab `approved`, ...) pass through as
# the provider names them, lower-cased, so filters can still name them.
OPENED = "opened"
SYNCHRONIZE = "synchronize"
REOPENED = "reopened"
CLOSED = "closed"
EDITED = "edited"
PR_ACTIONS = frozenset({OPENED, SYNCHRONIZE, REOPENED, CLOSED, EDITED})
# GitHub Actions runs `on: pull_request` for these when no `types:` are given.
DEFAULT_PR_TRIGGER_ACTIONS = frozenset({OPENED, SYNCHRONIZE, REOPENED})


def is_zero_sha(sha: str | None) -> bool:
    """True for the all-zero object id providers send for a created or deleted ref
    (40 zeros for SHA-1 repositories, 64 for SHA-256 ones)."""
    return bool(sha) and set(sha or "") == {"0"}


def short_ref(ref: str) -> tuple[str | None, str | None]:
    """`refs/heads/x` → (x, None); `refs/tags/v1` → (None, v1); anything else → (None, None)."""
    if ref.startswith(BRANCH_PREFIX):
        return ref[len(BRANCH_PREFIX):], None
    if ref.startswith(TAG_PREFIX):
        return None, ref[len(TAG_PREFIX):]
    return None, None


@dataclass(frozen=True)
class Push:
    kind: ClassVar[Literal["push"]] = "push"
    provider: str
    delivery_id: str
    repo: str
    ref: str
    branch: str | None
    tag: str | None
    created: bool
    deleted: bool
    before: str
    after: str
    pusher: str | None = None
    head_commit_message: str | None = None
    changed_paths: tuple[str, ...] = ()
    forced: bool = False  # False when the provider does not say (only GitHub does)

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


@dataclass(frozen=True)
class PullRequest:
    kind: ClassVar[Literal["pull_request"]] = "pull_request"
    provider: str
    delivery_id: str
    repo: str  # the base repository, the one the pull request targets
    action: str
    number: int
    base_ref: str
    base_sha: str | None  # GitLab merge request hooks do not carry it
    head_ref: str
    head_sha: str
    head_repo: str | None  # None when the fork was deleted
    fork: bool  # the head repository is not the base repository (or is gone)
    merged: bool = False
    title: str = ""
    author: str | None = None
    sender: str | None = None  # who caused this delivery (GitHub Actions' `actor`)
    draft: bool = False

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


@dataclass(frozen=True)
class Ping:
    kind: ClassVar[Literal["ping"]] = "ping"
    provider: str
    delivery_id: str
    repo: str | None  # None for an organisation or app hook
    hook_id: int | None = None
    zen: str = ""

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


Event = Push | PullRequest | Ping
EVENT_TYPES: dict[str, type[Push] | type[PullRequest] | type[Ping]] = {
    "push": Push, "pull_request": PullRequest, "ping": Ping}


@dataclass(frozen=True)
class Ignored:
    """A verified delivery gitflows does not act on; the HTTP layer still answers 202."""

    reason: str
    event_name: str = ""


def _as_dict(event: Event) -> dict[str, Any]:
    data = asdict(event)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return {"kind": event.kind, **data}


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of `as_dict()`. Raises ValueError on an unknown kind, a missing or
    unknown field, or a field of the wrong type."""
    cls = EVENT_TYPES.get(str(data.get("kind")))
    if cls is None:
        raise ValueError(f"unknown event kind {data.get('kind')!r} (known: {', '.join(EVENT_TYPES)})")
    known = {f.name: f for f in fields(cls)}
    extra = set(data) - set(known) - {"kind"}
    if extra:
        raise ValueError(f"unknown {cls.kind} field(s): {', '.join(sorted(extra))}")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        if name not in data:
            continue
        value = data[name]
        if name == "changed_paths":
            if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
                raise ValueError("changed_paths must be a list of strings")
            value = tuple(value)
        elif not _type_ok(value, str(spec.type)):
            raise ValueError(f"{cls.kind}.{name} must be {spec.type}, not {type(value).__name__}")
        values[name] = value
    try:
        return cls(**values)
    except TypeError as err:  # a required field is missing
        raise ValueError(f"{cls.kind}: {err}") from None


_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,)}


def _type_ok(value: Any, annotation: str) -> bool:
    allowed: list[type] = []
    for part in annotation.split("|"):
        name = part.strip()
        if name == "None":
            allowed.append(type(None))
        else:
            allowed.extend(_TYPES.get(name, (object,)))
    if isinstance(value, bool) and bool not in allowed:
        return False  # bool is an int subclass: do not let True pass for a number
    return isinstance(value, tuple(allowed))
