"""Semantic checks: types, ids, cron, inputs, deprecations; one test per rule, exact positions."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from runner.diagnostics import Diagnostic, Severity
from runner.language.parse import parse_flow
from runner.triggers.cron import next_time, validate_cron

HEAD = "id: hello\nnamespace: company.team\n"
LOG = "io.kestra.plugin.core.log.Log"


def lint(text: str) -> list[Diagnostic]:
    _, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), "f.yml")
    return diagnostics


def found(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.column) for d in lint(text)]


def one_task(type_name: str, extra: str = "    message: hi\n") -> str:
    return HEAD + f"tasks:\n  - id: a\n    type: {type_name}\n" + extra


# --- types -------------------------------------------------------------------------------------

def test_misspelt_type_suggests_the_closest() -> None:
    diagnostics = lint(one_task("io.kestra.plugin.core.log.Logg"))
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("unknown-type", 5, 11)]
    assert diagnostics[0].message == ("unknown task type 'io.kestra.plugin.core.log.Logg' "
                                      f"(did you mean '{LOG}'?)")


def test_type_names_are_case_sensitive() -> None:
    diagnostics = lint(one_task("io.kestra.plugin.core.log.log"))
    assert "case-sensitive" in diagnostics[0].message and LOG in diagnostics[0].message


def test_invented_script_type_explains_it_never_existed() -> None:
    diagnostics = lint(one_task("io.kestra.plugin.scripts.python.Execution", "    script: print(1)\n"))
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("unknown-type", 5, 11)]
    message = diagnostics[0].message
    assert "never had a type named 'Execution'" in message
    assert "io.kestra.plugin.scripts.python.Script" in message
    assert "io.kestra.plugin.scripts.python.Commands" in message


def test_class_name_in_the_wrong_package() -> None:
    diagnostics = lint(one_task("io.kestra.plugin.core.Log"))
    assert f"did you mean '{LOG}'?" in diagnostics[0].message


def test_unknown_type_in_a_known_package_lists_what_is_there() -> None:
    diagnostics = lint(one_task("io.kestra.plugin.core.log.Print"))
    assert "there is no 'Print' in io.kestra.plugin.core.log" in diagnostics[0].message


def test_legacy_task_alias_is_a_warning() -> None:
    flow, diagnostics = parse_flow(one_task("io.kestra.core.tasks.log.Log"), "f.yml")
    assert flow is not None and flow.tasks[0].type == LOG
    assert [(d.severity, d.code, d.line, d.column) for d in diagnostics] == [
        (Severity.WARNING, "deprecated-type", 5, 11)]
    assert f"use '{LOG}'" in diagnostics[0].message


def test_unknown_trigger_type() -> None:
    text = one_task(LOG) + ("triggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Schedul\n"
                            "    cron: '@daily'\n")
    diagnostics = lint(text)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("unknown-type", 9, 11)]
    assert "did you mean 'io.kestra.plugin.core.trigger.Schedule'?" in diagnostics[0].message


def test_legacy_trigger_alias_is_a_warning() -> None:
    text = one_task(LOG) + ("triggers:\n  - id: t\n    type: io.kestra.core.models.triggers.types.Schedule\n"
                            "    cron: '@daily'\n")
    assert found(text) == [("deprecated-type", 9, 11)]


def test_unknown_task_runner_type() -> None:
    text = one_task("io.kestra.plugin.scripts.shell.Commands",
                    "    commands: [ls]\n    taskRunner:\n      type: io.kestra.plugin.core.runner.Proces\n")
    diagnostics = lint(text)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("unknown-type", 8, 13)]
    assert diagnostics[0].message.startswith("unknown task runner type")


# --- ids ---------------------------------------------------------------------------------------

def test_duplicate_task_ids_across_nesting_errors_and_finally() -> None:
    text = HEAD + f"""\
tasks:
  - id: a
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - {{id: b, type: {LOG}, message: x}}
      - {{id: a, type: {LOG}, message: x}}
errors:
  - {{id: b, type: {LOG}, message: x}}
finally:
  - {{id: c, type: {LOG}, message: x}}
  - {{id: c, type: {LOG}, message: x}}
"""
    assert found(text) == [("duplicate-task-id", 8, 14), ("duplicate-task-id", 10, 10),
                           ("duplicate-task-id", 13, 10)]
    assert "already used at line 4" in lint(text)[0].message


def test_duplicate_ids_inside_switch_cases() -> None:
    text = HEAD + f"""\
tasks:
  - id: s
    type: io.kestra.plugin.core.flow.Switch
    value: x
    cases:
      x:
        - {{id: one, type: {LOG}, message: x}}
      y:
        - {{id: one, type: {LOG}, message: x}}
"""
    assert found(text) == [("duplicate-task-id", 11, 16)]


def test_duplicate_trigger_ids() -> None:
    text = one_task(LOG) + """\
triggers:
  - {id: t, type: io.kestra.plugin.core.trigger.Schedule, cron: '@daily'}
  - {id: t, type: io.kestra.plugin.core.trigger.Schedule, cron: '@hourly'}
"""
    assert found(text) == [("duplicate-trigger-id", 9, 10)]


# --- triggers: cron and time zone --------------------------------------------------------------

def schedule(cron: str, extra: str = "") -> str:
    return one_task(LOG) + ("triggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                            f"    cron: \"{cron}\"\n" + extra)


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/5 * * * MON-FRI", "@daily", "@midnight", "@annually",
                                  "0 0 1 1 *", "0 9 * * 1#2", "{{ vars.cron }}"])
def test_valid_cron(cron: str) -> None:
    assert found(schedule(cron)) == []


@pytest.mark.parametrize(("cron", "words"), [
    ("61 3 * * *", "minute field '61'"),
    ("0 3 * *", "has 4 field(s)"),
    ("0 0 3 * * *", "withSeconds: true"),
    ("0 3 * * 8", "day-of-week field '8'"),
    ("0 3 31 2 *", "never fires"),
    ("@every", "unknown cron macro"),
    ("", "empty"),
])
def test_invalid_cron(cron: str, words: str) -> None:
    diagnostics = lint(schedule(cron))
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("invalid-cron", 10, 11)]
    assert words in diagnostics[0].message


def test_cron_with_seconds() -> None:
    assert found(schedule("30 0 3 * * *", "    withSeconds: true\n")) == []
    assert found(schedule("0 3 * * *", "    withSeconds: true\n")) == [("invalid-cron", 10, 11)]


def test_unknown_time_zone() -> None:
    assert found(schedule("@daily", "    timezone: Europe/Pariss\n")) == [("invalid-value", 11, 15)]
    assert found(schedule("@daily", "    timezone: Europe/Paris\n")) == []


def test_validate_cron_and_next_time() -> None:
    assert validate_cron("@weekly") is None
    assert validate_cron("@daily", with_seconds=True) is None
    assert validate_cron("a b c d e") is not None
    start = dt.datetime(2024, 1, 1, 12, 0)
    assert next_time("0 3 * * *", start) == dt.datetime(2024, 1, 2, 3, 0)
    assert next_time("@hourly", start) == dt.datetime(2024, 1, 1, 13, 0)
    assert next_time("15 0 3 * * *", start, with_seconds=True) == dt.datetime(2024, 1, 2, 3, 0, 15)
    with pytest.raises(ValueError, match="minute"):
        next_time("99 * * * *", start)


# --- inputs ------------------------------------------------------------------------------------

def with_inputs(inputs: str) -> str:
    return HEAD + "inputs:\n" + textwrap.indent(textwrap.dedent(inputs), "  ") + \
        f"tasks:\n  - {{id: a, type: {LOG}, message: hi}}\n"


def test_unknown_input_type() -> None:
    diagnostics = lint(with_inputs("- id: n\n  type: INTEGER\n"))
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("invalid-value", 5, 11)]
    assert "did you mean 'INT" in diagnostics[0].message


@pytest.mark.parametrize("kind", ["SELECT", "MULTISELECT"])
def test_select_without_values(kind: str) -> None:
    assert found(with_inputs(f"- id: n\n  type: {kind}\n")) == [("missing-property", 5, 11)]
    assert found(with_inputs(f"- id: n\n  type: {kind}\n  values: []\n")) == [("missing-property", 5, 11)]


@pytest.mark.parametrize(("kind", "default", "extra"), [
    ("INT", "abc", ""), ("INT", "1.5", ""), ("FLOAT", "many", ""), ("BOOLEAN", "maybe", ""),
    ("DATE", "2024-02-30", ""), ("DATETIME", "yesterday", ""), ("TIME", "25:00", ""),
    ("DURATION", "5 minutes", ""), ("SELECT", "c", "  values: [a, b]\n"),
    ("MULTISELECT", "[a, c]", "  values: [a, b]\n"), ("JSON", "'{nope'", ""), ("ARRAY", "x", ""),
    ("STRING", "{a: 1}", ""),
])
def test_defaults_that_do_not_fit_the_type(kind: str, default: str, extra: str) -> None:
    diagnostics = lint(with_inputs(f"- id: n\n  type: {kind}\n  defaults: {default}\n{extra}"))
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("invalid-default", 6, 15)]
    assert f"input type {kind}" in diagnostics[0].message


@pytest.mark.parametrize(("kind", "default", "extra"), [
    ("INT", "42", ""), ("INT", "'42'", ""), ("FLOAT", "1.5", ""), ("FLOAT", "2", ""),
    ("BOOLEAN", "true", ""), ("BOOL", "'false'", ""), ("DATE", "2024-02-29", ""),
    ("DATETIME", "2024-02-29T10:00:00Z", ""), ("TIME", "10:00", ""), ("DURATION", "PT5M", ""),
    ("SELECT", "a", "  values: [a, b]\n"), ("SELECT", "z", "  values: [a]\n  allowCustomValue: true\n"),
    ("MULTISELECT", "[a, b]", "  values: [a, b]\n"), ("JSON", "'{\"a\": 1}'", ""), ("JSON", "{a: 1}", ""),
    ("ARRAY", "[1, 2]", ""), ("STRING", "hello", ""), ("INT", "'{{ now() }}'", ""),
])
def test_defaults_that_fit(kind: str, default: str, extra: str) -> None:
    assert found(with_inputs(f"- id: n\n  type: {kind}\n  defaults: {default}\n{extra}")) == []


def test_input_without_id_or_name() -> None:
    assert found(with_inputs("- type: STRING\n")) == [("missing-property", 4, 5)]


def test_duplicate_input_ids() -> None:
    text = with_inputs("- id: n\n  type: STRING\n- id: m\n  type: STRING\n- id: n\n  type: INT\n")
    assert found(text) == [("duplicate-input-id", 8, 9)]


def test_input_name_is_deprecated() -> None:
    flow, diagnostics = parse_flow(with_inputs("- name: n\n  type: STRING\n"), "f.yml")
    assert flow is not None and flow.inputs[0].id == "n"
    assert [(d.severity, d.code, d.line, d.column) for d in diagnostics] == [
        (Severity.WARNING, "deprecated-property", 4, 5)]


# --- deprecations ------------------------------------------------------------------------------

def test_max_attempt_is_deprecated_in_task_and_flow_retry() -> None:
    text = one_task(LOG, "    message: hi\n    retry:\n      type: constant\n      maxAttempt: 2\n")
    text += "retry:\n  type: constant\n  maxAttempt: 3\n"
    flow, diagnostics = parse_flow(text, "f.yml")
    assert flow is not None and flow.tasks[0].retry is not None
    assert flow.tasks[0].retry.max_attempts == 2
    assert [(d.severity, d.code, d.line, d.column) for d in diagnostics] == [
        (Severity.WARNING, "deprecated-property", 9, 7), (Severity.WARNING, "deprecated-property", 12, 3)]


def test_task_defaults_is_deprecated_and_still_applies() -> None:
    text = one_task(LOG) + f"taskDefaults:\n  - type: {LOG}\n    values:\n      level: WARN\n"
    flow, diagnostics = parse_flow(text, "f.yml")
    assert [(d.severity, d.code, d.line, d.column) for d in diagnostics] == [
        (Severity.WARNING, "deprecated-property", 7, 1)]
    assert flow is not None and flow.plugin_defaults[0].values == {"level": "WARN"}


def test_property_marked_deprecated_in_the_registry() -> None:
    text = one_task("io.kestra.plugin.core.flow.Pause", "    delay: PT1M\n")
    assert found(text) == [("deprecated-property", 6, 5)]


# --- Dag -----------------------------------------------------------------------------------------

def test_dag_depends_on_unknown_task_and_cycle() -> None:
    text = HEAD + f"""\
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {{id: a, type: {LOG}, message: x}}
        dependsOn: [b]
      - task: {{id: b, type: {LOG}, message: x}}
        dependsOn: [a, zzz]
"""
    diagnostics = lint(text)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [
        ("dependency-cycle", 8, 9), ("unknown-task", 10, 24)]
    assert "a -> b -> a" in diagnostics[0].message


@pytest.mark.parametrize(("spec", "words"), [
    ("- id: n\n  type: INT\n  min: 10\n  defaults: 3\n", "below the minimum 10"),
    ("- id: n\n  type: STRING\n  validator: '[a-z]+'\n  defaults: ABC\n", "does not match"),
])
def test_defaults_checked_against_the_input_validators(spec: str, words: str) -> None:
    diagnostics = lint(with_inputs(spec))
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("invalid-default", 7, 15)]
    assert words in diagnostics[0].message


def test_validator_must_be_a_regular_expression() -> None:
    assert found(with_inputs("- id: n\n  type: STRING\n  validator: '[a-'\n")) == [("invalid-value", 6, 16)]
