"""The flow JSON Schema: generated from the registry, checked in, and its diagnostics."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from runner.language.parse import parse_flow
from runner.language.schema import build_schema
from runner.tasks import Registry, TypeDef, default_registry
from tests.conftest import REPO_ROOT
from tests.unit.schema_expected import expected_schema

CHECKED_IN = REPO_ROOT / "schemas" / "flow.schema.json"
HEAD = "id: hello\nnamespace: company.team\n"


def found(text: str) -> list[tuple[str, int, int]]:
    _, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), "f.yml")
    return [(d.code, d.line, d.column) for d in diagnostics]


def messages(text: str) -> list[str]:
    _, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), "f.yml")
    return [d.message for d in diagnostics]


def test_checked_in_schema_is_the_generated_one() -> None:
    generated = build_schema(default_registry())
    assert expected_schema() == generated, (
        "schemas/flow.schema.json is out of date with the task registry: run `make schema` "
        "(.venv/bin/flows schema > schemas/flow.schema.json) and commit the result")


def test_every_registered_property_is_in_the_schema() -> None:
    definitions = build_schema(default_registry())["definitions"]
    for typedef in default_registry():
        schema = definitions[f"{typedef.kind}:{typedef.name}"]
        missing = {*typedef.properties, *typedef.task_slots, *typedef.task_maps} - set(schema["properties"])
        assert not missing, f"{typedef.name}: {missing}"
        assert set(typedef.required) <= set(schema["required"])
        dispatch = definitions["taskRunner" if typedef.kind == "runner" else typedef.kind]
        names = [n for rule in dispatch["allOf"] for n in rule["if"]["properties"]["type"]["enum"]]
        assert typedef.name in names and set(typedef.aliases) <= set(names)


def test_every_ref_resolves() -> None:
    schema = build_schema(default_registry())

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(schema):
        assert ref.startswith("#/definitions/"), ref
        assert ref.removeprefix("#/definitions/") in schema["definitions"], ref


def test_a_defs_ref_in_a_type_is_rewritten() -> None:
    registry = Registry([TypeDef("x.Runner", "task", "t", properties={"r": {"$ref": "#/$defs/retry"}})])
    schema = build_schema(registry)
    assert schema["definitions"]["task:x.Runner"]["properties"]["r"] == {"$ref": "#/definitions/retry"}


def test_unknown_flow_property() -> None:
    text = HEAD + "taks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    assert ("unknown-property", 3, 1) in found(text)
    assert any("unknown property 'taks' (did you mean 'tasks'?)" in m for m in messages(text))


def test_unknown_task_property_nested() -> None:
    text = HEAD + """\
tasks:
  - id: outer
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: inner
        type: io.kestra.plugin.core.log.Log
        mesage: hi
"""
    assert found(text) == [("missing-property", 7, 9), ("unknown-property", 9, 9)]
    assert messages(text)[1] == ("unknown property 'mesage' in tasks[0].tasks[0] "
                                 "(did you mean 'message'?)")


def test_unknown_trigger_property() -> None:
    text = HEAD + """\
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
    timezon: UTC
"""
    assert found(text) == [("unknown-property", 9, 5)]
    assert "did you mean 'timezone'?" in messages(text)[0]


def test_unknown_input_property() -> None:
    text = HEAD + """\
inputs:
  - id: n
    type: INT
    default: 3
tasks:
  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}
"""
    assert found(text) == [("unknown-property", 6, 5)]
    assert "did you mean 'defaults'?" in messages(text)[0]


def test_unknown_retry_property() -> None:
    text = HEAD + """\
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: hi
    retry:
      type: constant
      maxAttempts: 3
      intervall: PT1S
"""
    assert found(text) == [("unknown-property", 10, 7)]
    assert "did you mean 'interval'?" in messages(text)[0]


def test_unknown_task_runner_property() -> None:
    text = HEAD + """\
tasks:
  - id: a
    type: io.kestra.plugin.scripts.python.Script
    script: print(1)
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
      pullPolicyy: ALWAYS
"""
    assert found(text) == [("unknown-property", 9, 7)]
    assert "did you mean 'pullPolicy'?" in messages(text)[0]


def test_missing_required_property_points_at_the_task() -> None:
    text = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
    assert found(text) == [("missing-property", 4, 5)]
    assert messages(text) == ["missing required property 'message' in tasks[0]"]


def test_missing_tasks() -> None:
    assert found(HEAD) == [("missing-property", 1, 1)]


@pytest.mark.parametrize(("field", "value", "line", "col"), [
    ("id", "-starts-with-dash", 1, 5),
    ("namespace", "Company.Team", 2, 12),
    ("namespace", "company..team", 2, 12),
])
def test_invalid_flow_ids(field: str, value: str, line: int, col: int) -> None:
    text = "id: hello\nnamespace: company.team\n".replace(
        f"{field}: {'hello' if field == 'id' else 'company.team'}", f"{field}: {value}")
    text += "tasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi}\n"
    assert found(text) == [("invalid-value", line, col)]


def test_task_id_with_a_dot() -> None:
    text = HEAD + "tasks:\n  - id: a.b\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    assert found(text) == [("invalid-value", 4, 9)]
    assert "no dots" in messages(text)[0]


@pytest.mark.parametrize(("where", "line", "col"), [
    ("    timeout: PT5X\n", 7, 14),
    ("    retry:\n      type: constant\n      interval: 5s\n", 9, 17),
    ("    timeout: P9999999999D\n", 7, 14),
])
def test_invalid_durations(where: str, line: int, col: int) -> None:
    text = HEAD + "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n" + where
    assert found(text) == [("invalid-value", line, col)]
    assert "duration" in messages(text)[0]


def test_sleep_and_pause_durations() -> None:
    text = HEAD + """\
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: 5 minutes
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT1M
"""
    assert found(text) == [("invalid-value", 6, 15)]


def test_duration_property_of_a_custom_type() -> None:
    registry = Registry([TypeDef("x.Wait", "task", "wait", properties={
        "delay": {"$ref": "#/definitions/duration"}})])
    _, diagnostics = parse_flow(HEAD + "tasks:\n  - {id: a, type: x.Wait, delay: soon}\n", "f.yml", registry)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("invalid-value", 4, 34)]


def test_wrong_types_read_well() -> None:
    text = HEAD + "tasks: hello\n"
    assert found(text) == [("invalid-type", 3, 8)]
    assert messages(text) == ["'tasks' must be a list, got a string"]


def test_enum_with_suggestion() -> None:
    text = HEAD + "tasks:\n  - {id: a, type: io.kestra.plugin.core.log.Log, message: hi, level: WARNING}\n"
    assert found(text) == [("invalid-value", 4, 70)]
    assert "did you mean 'WARN'?" in messages(text)[0]
