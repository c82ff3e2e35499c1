"""check_references: expression syntax, unknown inputs and unknown tasks, at the string."""

from __future__ import annotations

import textwrap

from runner.diagnostics import Severity
from runner.language.lint_refs import check_references
from runner.tasks import default_registry
from runner.yamlsource import load


def check(text: str) -> list[tuple[int, int, str, str]]:
    located = load(textwrap.dedent(text).lstrip("\n"), "flow.yml")
    diagnostics = check_references(located, default_registry())
    # Kestra accepts a reference to an unknown task or input (it fails, or is handled, at run
    # time): a warning; a syntax error is Kestra's rejection too: an error
    assert all(d.file == "flow.yml" and d.severity is (
        Severity.ERROR if d.code == "invalid-expression" else Severity.WARNING) for d in diagnostics)
    return [(d.line, d.column, d.code, d.message) for d in diagnostics]


def test_a_clean_flow_has_no_findings() -> None:
    assert check("""
        id: hello
        namespace: company.team
        inputs:
          - id: name
            type: STRING
          - name: legacy
            type: STRING
        variables:
          greeting: "Hello {{ inputs.name }}"
        tasks:
          - id: first
            type: io.kestra.plugin.core.debug.Return
            format: "{{ inputs.name ?? 'x' }} {{ inputs.legacy }} {{ vars.greeting }}"
          - id: second-task
            type: io.kestra.plugin.core.log.Log
            message: |
              {{ outputs.first.value }} {{ outputs['second-task'] ?? '' }}
              {% for x in [1, 2] %}{{ loop.index }}{{ outputs[x] ?? '' }}{% endfor %}
              plain ${#shell} text, {{ trigger.date ?? execution.startDate }}
        """) == []


def test_unknown_input_with_a_guess() -> None:
    assert check("""
        id: hello
        namespace: company.team
        inputs:
          - id: user_name
            type: STRING
        tasks:
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "Hi {{ inputs.usre_name }} and {{ inputs['nothing_like_it'] }}"
        """) == [
        (9, 14, "unknown-input", "'inputs.nothing_like_it' is not an input of this flow"),
        (9, 14, "unknown-input",
         "'inputs.usre_name' is not an input of this flow (did you mean 'user_name'?)"),
    ]


def test_a_flow_without_inputs_declares_none() -> None:
    found = check("""
        id: hello
        namespace: company.team
        tasks:
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "{{ inputs.name }}"
        """)
    assert [code for _, _, code, _ in found] == ["unknown-input"]


def test_unknown_task_counts_nested_and_error_tasks() -> None:
    assert check("""
        id: hello
        namespace: company.team
        tasks:
          - id: branch
            type: io.kestra.plugin.core.flow.If
            condition: "{{ true }}"
            then:
              - id: inner
                type: io.kestra.plugin.core.debug.Return
                format: x
        errors:
          - id: alert
            type: io.kestra.plugin.core.log.Log
            message: "{{ outputs.inner.value }} {{ outputs.alert ?? '' }} {{ outputs.iner.value }}"
        outputs:
          - id: result
            type: STRING
            value: "{{ outputs.branch_x.value }}"
        """) == [
        (14, 14, "unknown-task", "'outputs.iner' names no task of this flow (did you mean 'inner'?)"),
        (18, 12, "unknown-task", "'outputs.branch_x' names no task of this flow (did you mean 'branch'?)"),
    ]


def test_invalid_expressions_are_reported_at_their_string() -> None:
    found = check("""
        id: hello
        namespace: company.team
        tasks:
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "{{ inputs.name | uper }}"
          - id: script
            type: io.kestra.plugin.scripts.shell.Commands
            commands:
              - echo ok
              - "echo {% if true %}unclosed"
        """)
    assert found == [
        (6, 14, "invalid-expression",
         "invalid expression: unknown filter 'uper' (did you mean 'upper'?) (column 18)"),
        (11, 9, "invalid-expression", "invalid expression: missing '{% endif %}' (column 27)"),
    ]


def test_dynamic_keys_and_prose_are_not_checked() -> None:
    assert check("""
        id: hello
        namespace: company.team
        description: "Pass {{ inputs.whatever }} to run it"
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a", "b"]
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                description: "Uses {{ outputs.nope }}"
                message: "{{ outputs.log[taskrun.value] ?? '' }} {{ outputs[inputs_key] ?? '' }}"
        """) == []


def test_not_a_mapping_yields_nothing() -> None:
    assert check_references(load("- just\n- a list\n", "f.yml"), default_registry()) == []


def test_tasks_inside_dag_and_switch_are_known() -> None:
    assert check("""
        id: hello
        namespace: company.team
        tasks:
          - id: dag
            type: io.kestra.plugin.core.flow.Dag
            tasks:
              - task:
                  id: a
                  type: io.kestra.plugin.core.debug.Return
                  format: x
              - task:
                  id: b
                  type: io.kestra.plugin.core.log.Log
                  message: "{{ outputs.a.value }}"
                dependsOn: [a]
          - id: sw
            type: io.kestra.plugin.core.flow.Switch
            value: "x"
            cases:
              x:
                - id: c
                  type: io.kestra.plugin.core.debug.Return
                  format: x
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "{{ outputs.c.value }} {{ outputs.b ?? '' }} {{ outputs.d.value }}"
        """) == [(26, 14, "unknown-task", "'outputs.d' names no task of this flow")]
