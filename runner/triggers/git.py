"""Git event -> the flow triggers it starts, with the reason for every decision.

Providers (runner/forges/) normalise a delivery into a `GitEvent`; the changed
paths come from runner/git/diff.py (two-dot diff for pushes, three-dot for pull
requests). `decide(flow, event)` returns one `Decision` per git trigger of the flow;
`matching_triggers` keeps the ones to run, `explain` prints all of them.

Rules, as GitHub Actions applies them (trigger types in runner/tasks/git_triggers.py):

- Push: a branch push is filtered by `branches`/`branches-ignore`, a tag push by
  `tags`/`tags-ignore`. With only branch filters, tag pushes do not run (and the other
  way round); with neither, every branch and tag push runs. Path filters apply to
  branch pushes only ("path filters are not evaluated for pushes of tags").
- Paths: `paths` runs when at least one changed path is included; `paths-ignore` runs
  when at least one changed path is not ignored. No changed path: no run. Changed paths
  unknown (`None`: the diff could not be computed): the path filter passes, as GitHub
  "always runs" when it has no diff.
- PullRequest: `types` (default opened, synchronize, reopened) against the action;
  `branches`/`branches-ignore` against the base branch; paths as above.
- Tag: `tags`/`tags-ignore` against the tag name; tag pushes only.
- Deleting a branch or tag starts nothing. A disabled flow or trigger starts nothing.
- Skip markers: `[skip ci]`, `[ci skip]`, `[no ci]`, `[skip actions]`, `[actions skip]`
  anywhere in the head commit message (case-insensitive), or a last trailer
  `skip-checks: true`, skip Push triggers (branch and tag pushes, as GitHub does) and
  PullRequest triggers (any action: GitHub looks at the pull request's head commit).
  Tag triggers are not skipped: release tags often point at "[skip ci]" version-bump
  commits. A skipped decision has `matched=True` and `skip` set, so the caller can post
  a 'skipped' commit status instead of nothing.

Concurrency: `group_key(flow, event)` = "{repo}:{namespace}.{flow_id}:{ref}". Runs
that share a key are runs of one flow for one ref (branch, tag, or `refs/pull/N/head`
for a pull request); the worker policy (cancel the older run when a newer push
arrives, or queue behind it) is applied by the caller per group key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from runner.globs import any_included, any_not_ignored, last_match
from runner.model import Flow, Trigger
from runner.tasks.git_triggers import GIT_TRIGGERS, PULL_REQUEST, PUSH, TAG, patterns, pr_types

KINDS = ("push", "pull_request", "tag")
SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip actions]", "[actions skip]")
_SKIP_TRAILER = re.compile(r"(?im)^skip-checks:[ \t]*true[ \t]*\Z")


class PushLike(Protocol):
    """What `GitEvent.from_push` reads (runner/forges/event.py `Push` has it)."""

    @property
    def repo(self) -> str: ...
    @property
    def ref(self) -> str: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def head_commit_message(self) -> str | None: ...


class PullRequestLike(Protocol):
    """What `GitEvent.from_pull_request` reads (runner/forges/event.py `PullRequest` has it)."""

    @property
    def repo(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def base_ref(self) -> str: ...
    @property
    def head_ref(self) -> str: ...


@dataclass(frozen=True)
class GitEvent:
    """One normalised git event, the input of dispatch.

    kind: push (to a branch) | tag (a tag pushed) | pull_request.
    ref: the full ref (refs/heads/main, refs/tags/v1, refs/pull/7/head).
    branch: the pushed branch (push) or the pull request's head branch.
    tag: the tag name (tag events). action: the pull request action (opened, ...).
    base_branch: the branch a pull request targets.
    changed_paths: the paths the event changes; None when they could not be computed.
    """

    kind: str
    ref: str
    repo: str = ""
    branch: str | None = None
    tag: str | None = None
    action: str | None = None
    base_branch: str | None = None
    changed_paths: tuple[str, ...] | None = None
    head_commit_message: str | None = None
    default_branch: str | None = None
    deleted: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"event kind must be one of {', '.join(KINDS)}, not '{self.kind}'")

    @classmethod
    def for_push(cls, ref: str, *, repo: str = "", changed_paths: tuple[str, ...] | None = None,
                 head_commit_message: str | None = None, default_branch: str | None = None,
                 deleted: bool = False) -> GitEvent:
        """A push to `ref`: a tag event for refs/tags/*, else a branch push."""
        if ref.startswith("refs/tags/"):
            return cls("tag", ref, repo, tag=ref.removeprefix("refs/tags/"),
                       changed_paths=changed_paths, head_commit_message=head_commit_message,
                       default_branch=default_branch, deleted=deleted)
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        return cls("push", ref, repo, branch=branch, changed_paths=changed_paths,
                   head_commit_message=head_commit_message, default_branch=default_branch,
                   deleted=deleted)

    @classmethod
    def from_push(cls, push: PushLike, changed_paths: tuple[str, ...] | None,
                  default_branch: str | None = None) -> GitEvent:
        """From a provider's push; changed_paths from runner.git.diff.changed_paths."""
        return cls.for_push(push.ref, repo=push.repo, changed_paths=changed_paths,
                            head_commit_message=push.head_commit_message,
                            default_branch=default_branch, deleted=push.deleted)

    @classmethod
    def from_pull_request(cls, pr: PullRequestLike, changed_paths: tuple[str, ...] | None,
                          head_commit_message: str | None = None,
                          default_branch: str | None = None) -> GitEvent:
        """From a provider's pull request; ref `refs/pull/N/head` (its concurrency group);
        changed_paths from runner.git.diff.pull_request_paths, the head commit message
        from runner.git.diff.commit_message."""
        return cls("pull_request", f"refs/pull/{pr.number}/head", pr.repo, branch=pr.head_ref,
                   action=pr.action, base_branch=pr.base_ref, changed_paths=changed_paths,
                   head_commit_message=head_commit_message, default_branch=default_branch)


@dataclass(frozen=True)
class Decision:
    trigger: Trigger
    matched: bool  # the filters select this event
    reasons: tuple[str, ...]  # why (each filter that decided), for logs and `explain`
    skip: str | None = None  # set when matched but the commit message asks to skip

    @property
    def runs(self) -> bool:
        return self.matched and self.skip is None


def skip_reason(message: str | None) -> str | None:
    """Why a head commit message asks to skip CI runs, or None."""
    if not message:
        return None
    lowered = message.lower()
    for marker in SKIP_MARKERS:
        if marker in lowered:
            return f"the head commit message contains '{marker}'"
    if _SKIP_TRAILER.search(message.rstrip()):
        return "the head commit message ends with the trailer 'skip-checks: true'"
    return None


class _Verdict:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.ok = True

    def fail(self, reason: str) -> None:
        self.ok = False
        self.reasons.append(reason)

    def note(self, reason: str) -> None:
        self.reasons.append(reason)


def _ref_filter(v: _Verdict, trigger: Trigger, what: str, name: str) -> None:
    """`branches`/`branches-ignore` (what='branches') or the tags pair, against name."""
    include = patterns(trigger.props, what)
    ignore = patterns(trigger.props, f"{what}-ignore")
    label = what[:-2] if what == "branches" else what[:-1]  # branch / tag
    if include is not None:
        found = last_match(include, name)
        if found is None:
            v.fail(f"{label} '{name}' matches no pattern in {what} {list(include)}")
        elif found.negated:
            v.fail(f"{label} '{name}' is excluded by '{found.source}' in {what}")
        else:
            v.note(f"{label} '{name}' matches '{found.source}' in {what}")
    if ignore is not None:
        found = last_match(ignore, name)
        if found is not None and not found.negated:
            v.fail(f"{label} '{name}' is ignored by '{found.source}' in {what}-ignore")
        else:
            v.note(f"{label} '{name}' is not ignored by {what}-ignore")


def _path_filter(v: _Verdict, trigger: Trigger, changed: tuple[str, ...] | None) -> None:
    include = patterns(trigger.props, "paths")
    ignore = patterns(trigger.props, "paths-ignore")
    if include is None and ignore is None:
        return
    if changed is None:
        v.note("changed paths unknown: path filters not applied (the flow runs, as on GitHub)")
        return
    if not changed:
        v.fail("no file changed, and the trigger has a path filter")
        return
    if include is not None:
        hits = [p for p in changed if any_included(include, (p,))]
        if hits:
            v.note(f"changed path '{hits[0]}' matches paths" +
                   (f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""))
        else:
            v.fail(f"none of the {len(changed)} changed path(s) matches paths {list(include)}")
    if ignore is not None:
        if any_not_ignored(ignore, changed):
            kept = next(p for p in changed if any_not_ignored(ignore, (p,)))
            v.note(f"changed path '{kept}' is not ignored by paths-ignore")
        else:
            v.fail(f"all {len(changed)} changed path(s) match paths-ignore {list(ignore)}")


def _has(trigger: Trigger, *keys: str) -> bool:
    return any(trigger.props.get(k) is not None for k in keys)


def _push(v: _Verdict, trigger: Trigger, event: GitEvent) -> None:
    branch_filters = _has(trigger, "branches", "branches-ignore")
    tag_filters = _has(trigger, "tags", "tags-ignore")
    if event.kind == "pull_request":
        v.fail("a Push trigger does not start on pull request events")
    elif event.kind == "tag":
        if branch_filters and not tag_filters:
            v.fail("the trigger filters branches only, so tag pushes do not start it")
        elif tag_filters:
            _ref_filter(v, trigger, "tags", event.tag or "")
        else:
            v.note("no branch or tag filter: every push starts it")
    elif event.branch is None:
        v.fail(f"ref '{event.ref}' is neither a branch nor a tag")
    else:
        if tag_filters and not branch_filters:
            v.fail("the trigger filters tags only, so branch pushes do not start it")
        elif branch_filters:
            _ref_filter(v, trigger, "branches", event.branch)
        else:
            v.note("no branch or tag filter: every push starts it")
        if v.ok:
            _path_filter(v, trigger, event.changed_paths)


def _pull_request(v: _Verdict, trigger: Trigger, event: GitEvent) -> None:
    if event.kind != "pull_request":
        v.fail(f"a PullRequest trigger does not start on {event.kind} events")
        return
    types = pr_types(trigger.props)
    if (event.action or "") not in types:
        v.fail(f"pull request action '{event.action}' is not in types {list(types)}")
        return
    v.note(f"pull request action '{event.action}' is in types")
    if event.base_branch is None:
        if _has(trigger, "branches", "branches-ignore"):
            v.fail("the pull request has no base branch to filter")
    else:
        _ref_filter(v, trigger, "branches", event.base_branch)
    if v.ok:
        _path_filter(v, trigger, event.changed_paths)


def _tag(v: _Verdict, trigger: Trigger, event: GitEvent) -> None:
    if event.kind != "tag":
        v.fail(f"a Tag trigger does not start on {event.kind.replace('_', ' ')} events")
    elif _has(trigger, "tags", "tags-ignore"):
        _ref_filter(v, trigger, "tags", event.tag or "")
    else:
        v.note("no tag filter: every tag starts it")


_RULES = {PUSH: _push, PULL_REQUEST: _pull_request, TAG: _tag}


def decide_trigger(flow: Flow, trigger: Trigger, event: GitEvent) -> Decision:
    v = _Verdict()
    if flow.disabled:
        v.fail("the flow is disabled")
    elif trigger.disabled:
        v.fail("the trigger is disabled")
    elif event.deleted:
        v.fail(f"'{event.ref}' was deleted; deletions start nothing")
    else:
        _RULES[trigger.type](v, trigger, event)
    skip = None
    if v.ok and trigger.type in (PUSH, PULL_REQUEST):
        skip = skip_reason(event.head_commit_message)
    return Decision(trigger, v.ok, tuple(v.reasons), skip)


def decide(flow: Flow, event: GitEvent) -> list[Decision]:
    """One decision per git trigger of the flow (other trigger types are not git's)."""
    return [decide_trigger(flow, t, event) for t in flow.triggers if t.type in GIT_TRIGGERS]


def matching_triggers(flow: Flow, event: GitEvent) -> list[Trigger]:
    """The flow's triggers this event starts (not skipped by the commit message)."""
    return [d.trigger for d in decide(flow, event) if d.runs]


def skipped_triggers(flow: Flow, event: GitEvent) -> list[Decision]:
    """Triggers whose filters match but which the commit message skips ('skipped' status)."""
    return [d for d in decide(flow, event) if d.matched and d.skip is not None]


def explain(flow: Flow, event: GitEvent) -> list[str]:
    """One line per git trigger: whether it runs, is skipped or does not match, and why."""
    lines = []
    for d in decide(flow, event):
        verdict = "skipped" if d.matched and d.skip else "runs" if d.matched else "no match"
        why = list(d.reasons) + ([d.skip] if d.matched and d.skip else [])
        lines.append(f"{flow.qualified_id}/{d.trigger.id} ({d.trigger.type}): {verdict}: "
                     + "; ".join(why or ["no filter"]))
    return lines


def group_key(flow: Flow, event: GitEvent) -> str:
    """Concurrency group: runs of one flow for one ref of one repository share it."""
    return f"{event.repo}:{flow.qualified_id}:{event.ref}"
