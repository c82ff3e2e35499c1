"""The git trigger types: schema checks through parse_flow, and the rules lint gets as data."""

from __future__ import annotations

import textwrap

import pytest

from runner.language.parse import parse_flow
from runner.tasks import Registry, core, flow, git_triggers, scripts
from runner.tasks.git_triggers import PULL_REQUEST, PUSH, TAG, TriggerProblem, check

REGISTRY = Registry([*core.TYPES, *flow.TYPES, *scripts.TYPES, *git_triggers.TYPES])


def errors(trigger: str) -> list[str]:
    text = textwrap.dedent("""\
        id: ci
        namespace: demo
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: hi
        triggers:
        """) + textwrap.indent(textwrap.dedent(trigger), "  ")
    _, diagnostics = parse_flow(text, "ci.yml", REGISTRY)
    return [f"{d.code}: {d.message}" for d in diagnostics if d.severity.name == "ERROR"]


def test_valid_git_triggers_parse() -> None:
    assert errors("""\
        - id: push
          type: gitflows.trigger.Push
          branches: [main]
          tags: 'v*'
          paths: ['src/**']
          inputs: {who: ci}
        - id: pr
          type: gitflows.trigger.PullRequest
          types: [opened, closed]
          branches-ignore: ['wip/**']
          paths-ignore: ['docs/**']
        - id: tag
          type: gitflows.trigger.Tag
          tags-ignore: ['nightly*']
        """) == []


@pytest.mark.parametrize("trigger", [
    "- id: x\n  type: gitflows.trigger.PullRequest\n  types: [merged]\n",
    "- id: x\n  type: gitflows.trigger.Push\n  branches: 3\n",
    "- id: x\n  type: gitflows.trigger.Push\n  branch: [main]\n",
    "- id: x\n  type: gitflows.trigger.Tag\n  paths: ['src/**']\n",
    "- id: x\n  type: gitflows.trigger.PullRequest\n  tags: ['v*']\n",
    "- id: x\n  type: gitflows.trigger.Push\n  branches: ['']\n",
    "- id: x\n  type: gitflows.trigger.Push\n  paths: [3]\n",
    "- id: x\n  type: gitflows.trigger.PullRequest\n  types: opened\n",
])
def test_schema_rejects_wrong_shapes(trigger: str) -> None:
    assert errors(trigger), trigger


def test_types_are_registered_as_triggers() -> None:
    for name in (PUSH, PULL_REQUEST, TAG):
        resolved = REGISTRY.resolve(name, "trigger")
        assert resolved is not None and resolved.typedef.kind == "trigger"


@pytest.mark.parametrize(("type_name", "include", "ignore"), [
    (PUSH, "branches", "branches-ignore"),
    (PUSH, "tags", "tags-ignore"),
    (PUSH, "paths", "paths-ignore"),
    (PULL_REQUEST, "branches", "branches-ignore"),
    (PULL_REQUEST, "paths", "paths-ignore"),
    (TAG, "tags", "tags-ignore"),
])
def test_include_and_ignore_together_is_an_error(type_name: str, include: str, ignore: str) -> None:
    [problem] = check(type_name, {include: ["a"], ignore: ["b"]})
    assert problem == TriggerProblem(
        (ignore,), "error", "conflicting-property",
        f"'{include}' and '{ignore}' cannot be used together on one trigger (as in GitHub Actions); "
        f"exclude with '!' patterns in '{include}' instead")


def test_pattern_problems_point_at_the_pattern() -> None:
    problems = check(PUSH, {"branches": ["main", "v[0-9"], "paths": "/src/**"})
    assert [(p.path, p.severity, p.code) for p in problems] == [
        (("branches", 1), "error", "invalid-pattern"),
        (("paths",), "warning", "ineffective-filter"),
    ]
    assert "'[' without a closing ']'" in problems[0].message


def test_only_negative_include_list_is_an_error_but_fine_in_ignore_lists() -> None:
    problems = check(PUSH, {"branches": ["!main"]})
    assert [p.severity for p in problems] == ["warning", "error"]
    assert check(PUSH, {"branches-ignore": ["!main"]}) == []


def test_paths_on_a_tags_only_push_trigger_is_a_warning() -> None:
    [problem] = check(PUSH, {"tags": ["v*"], "paths": ["src/**"]})
    assert problem.severity == "warning" and "not evaluated for tag pushes" in problem.message
    assert check(PUSH, {"tags": ["v*"], "branches": ["main"], "paths": ["src/**"]}) == []


def test_unknown_types_and_non_list_values_give_no_problems() -> None:
    assert check("io.kestra.plugin.core.trigger.Schedule", {"branches": ["["]}) == []
    assert check(PUSH, {"branches": 3}) == []  # the schema reports the type


def test_pattern_accessors() -> None:
    assert git_triggers.patterns({"branches": "main"}, "branches") == ("main",)
    assert git_triggers.patterns({}, "branches") is None
    assert git_triggers.pr_types({}) == ("opened", "synchronize", "reopened")
    assert git_triggers.pr_types({"types": "closed"}) == ("closed",)


def test_flows_validate_reports_git_trigger_filter_problems() -> None:
    from runner.language.parse import parse_flow

    text = ("id: f\nnamespace: n\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
            "    message: hi\ntriggers:\n  - id: push\n    type: gitflows.trigger.Push\n"
            "    branches: [main]\n    branches-ignore: [dev]\n")
    flow, diagnostics = parse_flow(text, "f.yml")
    assert flow is None
    found = [(d.code, d.line) for d in diagnostics]
    assert ("conflicting-property", 11) in found
