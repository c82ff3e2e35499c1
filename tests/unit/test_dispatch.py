"""Git events against Push / PullRequest / Tag triggers: filters, skip markers, reasons."""

from __future__ import annotations

import textwrap

import pytest

from runner.language.parse import parse_flow
from runner.model import Flow
from runner.tasks import Registry, core, flow, git_triggers, scripts
from runner.triggers.git import (
    Decision,
    GitEvent,
    decide,
    explain,
    group_key,
    matching_triggers,
    skip_reason,
    skipped_triggers,
)

REGISTRY = Registry([*core.TYPES, *flow.TYPES, *scripts.TYPES, *git_triggers.TYPES])


def make_flow(triggers: str, *, disabled: bool = False) -> Flow:
    text = textwrap.dedent("""\
        id: ci
        namespace: demo
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: hi
        triggers:
        """) + textwrap.indent(textwrap.dedent(triggers), "  ")
    if disabled:
        text += "disabled: true\n"
    parsed, diagnostics = parse_flow(text, "ci.yml", REGISTRY)
    assert parsed is not None, [str(d) for d in diagnostics]
    assert not [d for d in diagnostics if d.severity.name == "ERROR"], diagnostics
    return parsed


def push(branch: str, paths: tuple[str, ...] | None = ("src/app.py",), message: str = "work",
         **kw: object) -> GitEvent:
    return GitEvent.for_push(f"refs/heads/{branch}", repo="octo/hello", changed_paths=paths,
                             head_commit_message=message, default_branch="main", **kw)  # type: ignore[arg-type]


def tag(name: str, message: str = "release") -> GitEvent:
    return GitEvent.for_push(f"refs/tags/{name}", repo="octo/hello", head_commit_message=message,
                             changed_paths=("CHANGELOG.md",))


def pr(action: str = "opened", base: str = "main", paths: tuple[str, ...] | None = ("src/a.py",),
       message: str = "change") -> GitEvent:
    return GitEvent("pull_request", "refs/pull/7/head", "octo/hello", branch="feature/x",
                    action=action, base_branch=base, changed_paths=paths, head_commit_message=message)


def ids(f: Flow, event: GitEvent) -> list[str]:
    return [t.id for t in matching_triggers(f, event)]


# --- push: branches and tags ------------------------------------------------------------------

def test_push_without_filters_runs_for_every_branch_and_tag() -> None:
    f = make_flow("- id: any\n  type: gitflows.trigger.Push\n")
    assert ids(f, push("main")) == ["any"]
    assert ids(f, push("feature/deep/x")) == ["any"]
    assert ids(f, tag("v1.0.0")) == ["any"]


def test_push_branches_include_and_negate() -> None:
    f = make_flow("""\
        - id: rel
          type: gitflows.trigger.Push
          branches: [main, 'releases/**', '!releases/**-alpha']
        """)
    assert ids(f, push("main")) == ["rel"]
    assert ids(f, push("releases/10")) == ["rel"]
    assert ids(f, push("releases/10-alpha")) == []
    assert ids(f, push("feature/x")) == []
    assert ids(f, tag("v1")) == [], "branch filters only: tag pushes do not run"


def test_push_branches_ignore() -> None:
    f = make_flow("""\
        - id: not-docs
          type: gitflows.trigger.Push
          branches-ignore: ['docs/**', 'gh-pages']
        """)
    assert ids(f, push("main")) == ["not-docs"]
    assert ids(f, push("docs/intro")) == []
    assert ids(f, push("gh-pages")) == []
    assert ids(f, tag("v1")) == []


def test_push_tags_only_ignores_branch_pushes() -> None:
    f = make_flow("""\
        - id: tags
          type: gitflows.trigger.Push
          tags: ['v[0-9]+.[0-9]+.[0-9]+']
        - id: not-rc
          type: gitflows.trigger.Push
          tags-ignore: ['*-rc*']
        """)
    assert ids(f, tag("v1.2.3")) == ["tags", "not-rc"]
    assert ids(f, tag("v1.2.3-rc1")) == []
    assert ids(f, tag("nightly")) == ["not-rc"]
    assert ids(f, push("main")) == []


def test_push_with_branches_and_tags_filters_each_ref_by_its_own_list() -> None:
    f = make_flow("""\
        - id: both
          type: gitflows.trigger.Push
          branches: [main]
          tags: ['v*']
          paths: ['src/**']
        """)
    assert ids(f, push("main")) == ["both"]
    assert ids(f, push("dev")) == []
    assert ids(f, tag("v2")) == ["both"], "paths are not evaluated for tag pushes"
    assert ids(f, tag("x2")) == []


def test_ref_that_is_neither_branch_nor_tag() -> None:
    f = make_flow("- id: any\n  type: gitflows.trigger.Push\n")
    event = GitEvent.for_push("refs/notes/flows", changed_paths=("x",))
    assert ids(f, event) == []
    assert "neither a branch nor a tag" in explain(f, event)[0]


def test_deleted_refs_and_disabled_things_start_nothing() -> None:
    f = make_flow("- id: any\n  type: gitflows.trigger.Push\n- id: off\n  type: gitflows.trigger.Push\n"
                  "  disabled: true\n")
    assert ids(f, push("main")) == ["any"]
    assert ids(f, push("main", paths=(), deleted=True)) == []
    assert ids(make_flow("- id: any\n  type: gitflows.trigger.Push\n", disabled=True), push("main")) == []
    assert "disabled" in explain(f, push("main"))[1]


# --- paths ------------------------------------------------------------------------------------

PATHS_FLOW = """\
    - id: src
      type: gitflows.trigger.Push
      paths: ['src/**', '!src/**/*.md']
    - id: code
      type: gitflows.trigger.Push
      paths-ignore: ['docs/**', '**.md']
    """


@pytest.mark.parametrize(("changed", "expected"), [
    (("src/app.py",), ["src", "code"]),
    (("src/notes/README.md",), []),
    (("docs/a.txt", "README.md"), []),
    (("docs/a.txt", "setup.py"), ["code"]),
    (("src/app.py", "docs/x"), ["src", "code"]),
    ((), []),  # no changed file: no run when there is a path filter
    (None, ["src", "code"]),  # unknown: the filter passes (GitHub runs without a diff)
])
def test_paths_and_paths_ignore(changed: tuple[str, ...] | None, expected: list[str]) -> None:
    assert ids(make_flow(PATHS_FLOW), push("main", paths=changed)) == expected


def test_no_path_filter_runs_even_when_nothing_changed() -> None:
    f = make_flow("- id: any\n  type: gitflows.trigger.Push\n")
    assert ids(f, push("main", paths=())) == ["any"]


def test_branches_and_paths_must_both_match() -> None:
    f = make_flow("""\
        - id: both
          type: gitflows.trigger.Push
          branches: [main]
          paths: ['src/**']
        """)
    assert ids(f, push("main", paths=("src/a",))) == ["both"]
    assert ids(f, push("main", paths=("docs/a",))) == []
    assert ids(f, push("dev", paths=("src/a",))) == []


# --- pull requests ----------------------------------------------------------------------------

def test_pull_request_default_types() -> None:
    f = make_flow("- id: pr\n  type: gitflows.trigger.PullRequest\n")
    for action in ("opened", "synchronize", "reopened"):
        assert ids(f, pr(action)) == ["pr"]
    for action in ("closed", "edited", "labeled"):
        assert ids(f, pr(action)) == []
    assert "not in types ['opened', 'synchronize', 'reopened']" in explain(f, pr("closed"))[0]
    assert ids(f, push("main")) == [], "a PullRequest trigger ignores pushes"


def test_pull_request_explicit_types_base_branches_and_paths() -> None:
    f = make_flow("""\
        - id: merged
          type: gitflows.trigger.PullRequest
          types: [closed]
          branches: ['main', 'release/*']
        - id: code
          type: gitflows.trigger.PullRequest
          branches-ignore: ['wip/**']
          paths: ['src/**']
        - id: single
          type: gitflows.trigger.PullRequest
          types: [opened]
        """)
    assert ids(f, pr("closed", base="release/1")) == ["merged"]
    assert ids(f, pr("closed", base="dev")) == []
    assert ids(f, pr("opened", base="main")) == ["code", "single"]
    assert ids(f, pr("opened", base="wip/x")) == ["single"]
    assert ids(f, pr("synchronize", paths=("docs/x",))) == []


def test_pull_request_triggers_ignore_tag_and_push_triggers_ignore_prs() -> None:
    f = make_flow("- id: push\n  type: gitflows.trigger.Push\n- id: tag\n  type: gitflows.trigger.Tag\n")
    assert ids(f, pr()) == []


# --- tags -------------------------------------------------------------------------------------

def test_tag_trigger() -> None:
    f = make_flow("""\
        - id: release
          type: gitflows.trigger.Tag
          tags: ['v[0-9]+.[0-9]+.[0-9]+', '!v0.*']
        - id: any-tag
          type: gitflows.trigger.Tag
        - id: no-nightly
          type: gitflows.trigger.Tag
          tags-ignore: nightly*
        """)
    assert ids(f, tag("v1.2.3")) == ["release", "any-tag", "no-nightly"]
    assert ids(f, tag("v0.9.1")) == ["any-tag", "no-nightly"]
    assert ids(f, tag("nightly-2024")) == ["any-tag"]
    assert ids(f, push("main")) == []


# --- skip markers -----------------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "fix typo [skip ci]", "[ci skip] docs", "Bump [no ci]", "x [skip actions]", "[actions skip]",
    "Release [SKIP CI]", "subject\n\nbody\n\nskip-checks: true", "subject\n\n\nskip-checks:true\n",
])
def test_skip_markers(message: str) -> None:
    assert skip_reason(message) is not None


@pytest.mark.parametrize("message", [
    "", "skip ci", "[skip-ci]", "skip-checks: true\n\nmore text", "skip-checks: false", None,
])
def test_not_skip_markers(message: str | None) -> None:
    assert skip_reason(message) is None


def test_skip_markers_skip_push_and_pull_request_but_report_it() -> None:
    f = make_flow("""\
        - id: push
          type: gitflows.trigger.Push
        - id: pr
          type: gitflows.trigger.PullRequest
        - id: release
          type: gitflows.trigger.Tag
        """)
    skip = "chore: bump [skip ci]"
    assert ids(f, push("main", message=skip)) == []
    [decision] = skipped_triggers(f, push("main", message=skip))
    assert decision.trigger.id == "push" and decision.matched and not decision.runs
    assert "[skip ci]" in (decision.skip or "")
    assert ids(f, pr("synchronize", message=skip)) == []
    assert [d.trigger.id for d in skipped_triggers(f, pr("synchronize", message=skip))] == ["pr"]
    # a release tag on a "[skip ci]" commit: the Push trigger skips as GitHub does, Tag runs
    assert ids(f, tag("v1", message=skip)) == ["release"]
    assert "skipped" in explain(f, push("main", message=skip))[0]


def test_skip_applies_only_to_matching_triggers() -> None:
    f = make_flow("- id: main\n  type: gitflows.trigger.Push\n  branches: [main]\n")
    assert skipped_triggers(f, push("dev", message="[skip ci]")) == []


# --- explain, decisions, group keys -----------------------------------------------------------

def test_explain_gives_a_reason_per_trigger() -> None:
    f = make_flow("""\
        - id: main
          type: gitflows.trigger.Push
          branches: [main]
        - id: docs
          type: gitflows.trigger.Push
          paths: ['docs/**']
        - id: nightly
          type: io.kestra.plugin.core.trigger.Schedule
          cron: '@daily'
        """)
    lines = explain(f, push("feature/x", paths=("src/a.py",)))
    assert len(lines) == 2, "non-git triggers are not explained"
    assert lines[0].startswith("demo.ci/main (gitflows.trigger.Push): no match: ")
    assert "branch 'feature/x' matches no pattern in branches ['main']" in lines[0]
    assert "none of the 1 changed path(s) matches paths ['docs/**']" in lines[1]
    good = explain(f, push("main", paths=("docs/a.md", "docs/b.md")))
    assert "runs: branch 'main' matches 'main' in branches" in good[0]
    assert "changed path 'docs/a.md' matches paths (and 1 more)" in good[1]
    excluded = explain(make_flow("- id: x\n  type: gitflows.trigger.Push\n  branches: ['**', '!dev']\n"),
                       push("dev"))
    assert "excluded by '!dev'" in excluded[0]
    ignored = explain(make_flow("- id: x\n  type: gitflows.trigger.Push\n  branches-ignore: [dev]\n"),
                      push("dev"))
    assert "ignored by 'dev' in branches-ignore" in ignored[0]


def test_decide_returns_data() -> None:
    f = make_flow("- id: a\n  type: gitflows.trigger.Push\n")
    [d] = decide(f, push("main"))
    assert isinstance(d, Decision) and d.runs and d.reasons


def test_group_key_is_repo_flow_ref() -> None:
    f = make_flow("- id: a\n  type: gitflows.trigger.Push\n")
    assert group_key(f, push("main")) == "octo/hello:demo.ci:refs/heads/main"
    assert group_key(f, pr()) == "octo/hello:demo.ci:refs/pull/7/head"
    assert group_key(f, push("main")) != group_key(f, push("dev"))


def test_event_kind_is_checked_and_for_push_splits_refs() -> None:
    with pytest.raises(ValueError, match="event kind"):
        GitEvent("merge", "refs/heads/main")
    event = GitEvent.for_push("refs/heads/feature/a")
    assert (event.kind, event.branch, event.tag) == ("push", "feature/a", None)
    event = GitEvent.for_push("refs/tags/v1")
    assert (event.kind, event.branch, event.tag) == ("tag", None, "v1")


def test_adapters_from_provider_events() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Push:
        repo: str
        ref: str
        deleted: bool
        head_commit_message: str | None

    @dataclass(frozen=True)
    class PullRequest:
        repo: str
        number: int
        action: str
        base_ref: str
        head_ref: str

    event = GitEvent.from_push(Push("octo/hello", "refs/tags/v1", False, "release"), None, "main")
    assert (event.kind, event.tag, event.repo, event.default_branch) == ("tag", "v1", "octo/hello", "main")
    event = GitEvent.from_push(Push("octo/hello", "refs/heads/dev", True, None), ())
    assert (event.kind, event.branch, event.deleted) == ("push", "dev", True)
    event = GitEvent.from_pull_request(PullRequest("octo/hello", 7, "synchronize", "main", "feature/x"),
                                       ("src/a.py",), "wip [skip ci]")
    assert event == pr("synchronize", message="wip [skip ci]")
