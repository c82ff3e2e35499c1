"""Git trigger types: push, pull request and tag, with GitHub-Actions-style filters.

```yaml
triggers:
  - id: ci
    type: gitflows.trigger.Push
    branches: [main, 'releases/**', '!releases/**-alpha']
    paths: ['src/**', '!src/**/*.md']
  - id: pr
    type: gitflows.trigger.PullRequest
    branches: [main]                 # the base branch the pull request targets
    types: [opened, synchronize, reopened, closed]
  - id: release
    type: gitflows.trigger.Tag
    tags: ['v[0-9]+.[0-9]+.[0-9]+']
```

The JSON-schema properties make `flows validate` check the shapes. Rules a schema
cannot say (GitHub forbids `branches` with `branches-ignore`, `tags` with `tags-ignore`,
`paths` with `paths-ignore` on one event; a pattern must compile; an include list needs a
positive pattern) come from `check(type, props)` as `TriggerProblem` data, for lint.
The matching itself lives in runner/triggers/git.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.globs import check_patterns
from runner.tasks.registry import TypeDef

PUSH = "gitflows.trigger.Push"
PULL_REQUEST = "gitflows.trigger.PullRequest"
TAG = "gitflows.trigger.Tag"
GIT_TRIGGERS = (PUSH, PULL_REQUEST, TAG)

PR_DEFAULT_TYPES = ("opened", "synchronize", "reopened")
PR_TYPES = (
    "assigned", "unassigned", "labeled", "unlabeled", "opened", "edited", "closed", "reopened",
    "synchronize", "converted_to_draft", "ready_for_review", "locked", "unlocked",
    "review_requested", "review_request_removed", "auto_merge_enabled", "auto_merge_disabled",
    "milestoned", "demilestoned", "enqueued", "dequeued",
)

_PATTERNS = {
    "type": ["array", "string"], "minLength": 1, "items": {"type": "string", "minLength": 1},
    "description": "GitHub Actions filter patterns (*, **, ?, +, [a-z], leading ! to exclude)",
}


def _filter(what: str) -> dict[str, Any]:
    return {**_PATTERNS, "description": f"{what}: {_PATTERNS['description']}"}


_COMMON = {"inputs": {"type": "object"}, "conditions": {"type": "array"}}
_BRANCHES = {"branches": _filter("branches to run for"),
             "branches-ignore": _filter("branches not to run for")}
_TAGS = {"tags": _filter("tags to run for"), "tags-ignore": _filter("tags not to run for")}
_PATHS = {"paths": _filter("run when a changed path matches"),
          "paths-ignore": _filter("do not run when every changed path matches")}

# include list -> its ignore counterpart (GitHub forbids using both for one event)
PAIRS = {"branches": "branches-ignore", "tags": "tags-ignore", "paths": "paths-ignore"}
FILTERS_OF = {
    PUSH: ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"),
    PULL_REQUEST: ("branches", "branches-ignore", "paths", "paths-ignore"),
    TAG: ("tags", "tags-ignore"),
}

TYPES = (
    TypeDef(
        name=PUSH,
        kind="trigger",
        title="Start the flow on a push to matching branches or tags (GitHub Actions filters)",
        properties={**_COMMON, **_BRANCHES, **_TAGS, **_PATHS},
    ),
    TypeDef(
        name=PULL_REQUEST,
        kind="trigger",
        title="Start the flow on pull request activity; branches filter the base branch",
        properties={
            **_COMMON, **_BRANCHES, **_PATHS,
            "types": {"type": "array", "items": {"type": "string", "enum": list(PR_TYPES)},
                      "description": "activity types; default: opened, synchronize, reopened"},
        },
    ),
    TypeDef(
        name=TAG,
        kind="trigger",
        title="Start the flow when a matching tag is pushed",
        properties={**_COMMON, **_TAGS},
    ),
)


def patterns(props: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    """A filter property as a tuple of patterns (a single string is one pattern); None if absent."""
    value = props.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def pr_types(props: Mapping[str, Any]) -> tuple[str, ...]:
    value = props.get("types")
    if value is None:
        return PR_DEFAULT_TYPES
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass(frozen=True)
class TriggerProblem:
    path: tuple[str | int, ...]  # below the trigger, e.g. ("branches", 2)
    severity: str  # error | warning
    code: str  # conflicting-property | invalid-pattern | ineffective-filter
    message: str


def check(type_name: str, props: Mapping[str, Any]) -> list[TriggerProblem]:
    """Problems of a git trigger's filters that the JSON schema cannot express.

    For lint: `for p in check(trigger.type, raw_trigger): out.error((*path, *p.path), p.code,
    p.message)` (or warn, by p.severity). Unknown types give no problems.
    """
    problems: list[TriggerProblem] = []
    keys = FILTERS_OF.get(type_name, ())
    for include, ignore in PAIRS.items():
        if include in keys and include in props and ignore in props:
            problems.append(TriggerProblem(
                (ignore,), "error", "conflicting-property",
                f"'{include}' and '{ignore}' cannot be used together on one trigger (as in "
                f"GitHub Actions); exclude with '!' patterns in '{include}' instead"))
    for key in keys:
        raw = props.get(key)
        if raw is None:
            continue
        items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else None
        if items is None:
            continue  # the schema reports the type
        for problem in check_patterns(items, include_list=key in PAIRS, paths=key.startswith("paths")):
            where: tuple[str | int, ...] = (key,) if isinstance(raw, str) else (key, problem.index)
            code = "invalid-pattern" if problem.severity == "error" else "ineffective-filter"
            problems.append(TriggerProblem(where, problem.severity, code, problem.message))
    if type_name == PUSH and ("paths" in props or "paths-ignore" in props) \
            and ("tags" in props or "tags-ignore" in props) \
            and not ("branches" in props or "branches-ignore" in props):
        problems.append(TriggerProblem(
            ("paths" if "paths" in props else "paths-ignore",), "warning", "ineffective-filter",
            "path filters are not evaluated for tag pushes, and this trigger runs only on tags"))
    return problems
