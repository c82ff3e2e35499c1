"""`flows validate` accepts what Kestra accepts and rejects what it rejects, at file:line:col."""

from __future__ import annotations

import textwrap

from runner.diagnostics import Diagnostic, Severity
from runner.language.parse import parse_flow

HEAD = "id: hello\nnamespace: company.team\n"


def lint(text: str) -> list[Diagnostic]:
    _, diagnostics = parse_flow(HEAD + textwrap.dedent(text).lstrip("\n"), "f.yml")
    return diagnostics


def found(text: str) -> list[tuple[str, str, int, int]]:
    return [(d.severity.value, d.code, d.line, d.column) for d in lint(text)]


def test_unknown_output_and_undeclared_input_are_warnings_not_errors() -> None:
    # Kestra saves this flow; the expression fails (or `??` handles it) at run time
    text = """
        tasks:
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "{{ outputs.later.value ?? 'none' }} {{ inputs.who ?? 'nobody' }}"
    """
    diagnostics = lint(text)
    assert {(d.code, d.severity) for d in diagnostics} == {
        ("unknown-task", Severity.WARNING), ("unknown-input", Severity.WARNING)}
    flow, _ = parse_flow(HEAD + textwrap.dedent(text).lstrip("\n"), "f.yml")
    assert flow is not None  # it loads, so it runs


def test_file_input_default_must_be_a_file_uri() -> None:
    assert found("""
        inputs:
          - id: data
            type: FILE
            defaults: data.csv
          - id: ok
            type: FILE
            defaults: nsfile:///data.csv
        tasks:
          - {id: l, type: io.kestra.plugin.core.log.Log, message: x}
    """) == [("error", "invalid-default", 6, 15)]


def test_array_of_arrays_is_rejected() -> None:
    diagnostics = lint("""
        inputs:
          - id: grid
            type: ARRAY
            itemType: ARRAY
        tasks:
          - {id: l, type: io.kestra.plugin.core.log.Log, message: x}
    """)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("invalid-value", 6, 15)]
    assert "cannot have itemType ARRAY" in diagnostics[0].message


def test_only_runnable_tasks_inside_working_directory() -> None:
    # Kestra: "Only runnable tasks are allowed as children of a WorkingDirectory task" (a
    # Pause, even with only a delay, is not runnable)
    diagnostics = lint("""
        tasks:
          - id: wd
            type: io.kestra.plugin.core.flow.WorkingDirectory
            tasks:
              - id: wait
                type: io.kestra.plugin.core.flow.Pause
                pauseDuration: PT1S
              - id: inner
                type: io.kestra.plugin.core.flow.Sequential
                tasks:
                  - {id: l, type: io.kestra.plugin.core.log.Log, message: x}
              - id: fine
                type: io.kestra.plugin.scripts.shell.Commands
                commands: [ls]
    """)
    assert [(d.code, d.line, d.column) for d in diagnostics] == [
        ("invalid-task", 8, 15), ("invalid-task", 11, 15)]
    assert "only runnable tasks" in diagnostics[0].message


def test_worker_group_is_said_to_be_unsupported() -> None:
    diagnostics = lint("""
        tasks:
          - id: l
            type: io.kestra.plugin.core.log.Log
            message: x
            workerGroup:
              key: gpu
    """)
    assert [(d.severity, d.code, d.line, d.column) for d in diagnostics] == [
        (Severity.ERROR, "not-supported", 7, 5)]
    assert "Enterprise Edition" in diagnostics[0].message and "not supported" in diagnostics[0].message


def test_legacy_enum_input_is_valid_with_a_deprecation() -> None:
    assert found("""
        inputs:
          - id: env
            type: ENUM
            values: [dev, prod]
            defaults: dev
        tasks:
          - {id: l, type: io.kestra.plugin.core.log.Log, message: x}
    """) == [("warning", "deprecated-property", 5, 11)]


def test_pause_duration_may_be_an_expression_but_not_any_text() -> None:
    assert found("""
        tasks:
          - id: p
            type: io.kestra.plugin.core.flow.Pause
            pauseDuration: "{{ vars.wait }}"
    """) == []
    assert [c for _, c, _, _ in found("""
        tasks:
          - id: p
            type: io.kestra.plugin.core.flow.Pause
            pauseDuration: five minutes
    """)] == ["invalid-value"]


def test_create_new_execution_retry_warns_how_it_runs() -> None:
    diagnostics = lint("""
        tasks:
          - id: l
            type: io.kestra.plugin.core.log.Log
            message: x
            retry:
              type: constant
              interval: PT1S
              maxAttempts: 2
              behavior: CREATE_NEW_EXECUTION
    """)
    assert [(d.severity, d.code, d.line) for d in diagnostics] == [
        (Severity.WARNING, "runs-differently", 11)]


def test_schedule_conditions_warn_that_the_server_does_not_evaluate_them() -> None:
    diagnostics = lint("""
        tasks:
          - {id: l, type: io.kestra.plugin.core.log.Log, message: x}
        triggers:
          - id: weekdays
            type: io.kestra.plugin.core.trigger.Schedule
            cron: "0 9 * * *"
            conditions:
              - type: io.kestra.plugin.core.condition.Weekend
    """)
    assert [(d.severity, d.code, d.line) for d in diagnostics] == [
        (Severity.WARNING, "runs-differently", 9)]
    assert "fires at every cron tick" in diagnostics[0].message


def test_a_validated_only_type_is_accepted_with_a_warning_saying_why() -> None:
    diagnostics = lint("""
        tasks:
          - id: toggle
            type: io.kestra.plugin.core.trigger.Toggle
            trigger: nightly
            enabled: false
    """)
    assert [(d.severity, d.code, d.line, d.column) for d in diagnostics] == [
        (Severity.WARNING, "validated-only", 5, 11)]
    assert "fails when it runs here" in diagnostics[0].message
    assert "disabled:" in diagnostics[0].message


def test_empty_commands_are_an_error_and_one_plain_string_a_warning() -> None:
    # what an emptied editor field leaves: nothing would run, yet it used to validate
    assert found("""
        tasks:
          - id: build
            type: io.kestra.plugin.scripts.shell.Commands
            commands: ""
    """) == [("error", "invalid-value", 6, 15)]
    assert found("""
        tasks:
          - id: build
            type: io.kestra.plugin.scripts.shell.Commands
            commands: make all
    """) == [("warning", "not-a-list", 6, 15)]
    assert found("""
        inputs:
          - id: steps
            type: JSON
        tasks:
          - id: build
            type: io.kestra.plugin.scripts.shell.Commands
            commands: "{{ inputs.steps }}"
    """) == []
