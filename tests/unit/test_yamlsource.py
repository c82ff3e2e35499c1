"""YAML → located data: syntax errors with hints, duplicate keys, document shape."""

from __future__ import annotations

import textwrap

import pytest

from runner.diagnostics import Severity
from runner.language.parse import parse_flow
from runner.yamlsource import YamlSyntaxError, load

GARBLED = """\
id: python-script-example
namespace:examples

triggers:
-id:daily-trigger
    type:io.kestra.core.models.triggers.types.Schedule
    cron:"0 3 * * *"# every day at 3am
"""


def found(text: str) -> list[tuple[str, int, int]]:
    _, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), "f.yml")
    return [(d.code, d.line, d.column) for d in diagnostics]


def messages(text: str) -> list[str]:
    _, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), "f.yml")
    return [d.message for d in diagnostics]


def test_garbled_example_points_at_every_mistake() -> None:
    flow, diagnostics = parse_flow(GARBLED, "f.yml")
    assert flow is None
    assert [(d.line, d.column) for d in diagnostics] == [(2, 1), (5, 1), (5, 2), (6, 5), (7, 5), (7, 21)]
    assert all(d.code == "yaml-syntax" and d.severity is Severity.ERROR for d in diagnostics)
    text = [d.message for d in diagnostics]
    assert "write 'namespace: examples'" in text[0]
    assert "'- id:daily-trigger'" in text[1]
    assert "write 'id: daily-trigger'" in text[2]
    assert "write 'type: io.kestra.core.models.triggers.types.Schedule'" in text[3]
    assert text[5] == "a comment needs a space before '#'"


def test_duplicate_key_is_reported_at_the_second_one() -> None:
    assert found("""
        id: a
        namespace: b
        id: c
    """) == [("duplicate-key", 3, 1)]
    assert "first defined at line 1" in messages("id: a\nnamespace: b\nid: c\n")[0]


def test_nested_duplicate_key() -> None:
    assert found("""
        id: a
        namespace: b
        tasks:
          - id: x
            type: io.kestra.plugin.core.log.Log
            message: one
            message: two
    """) == [("duplicate-key", 7, 5)]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    _, diagnostics = parse_flow(text, "f.yml")
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("empty-file", 1, 1)]


def test_multiple_documents_are_rejected_at_the_separator() -> None:
    codes = found("""
        id: a
        namespace: b
        ---
        id: c
    """)
    assert codes == [("multiple-documents", 3, 1)]
    assert "one YAML document" in messages("id: a\n---\nid: b\n")[0]


def test_a_leading_document_marker_is_fine() -> None:
    flow, diagnostics = parse_flow(
        "---\nid: a\nnamespace: b\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n", "f.yml")
    assert flow is not None and diagnostics == []


@pytest.mark.parametrize(("text", "kind", "line"), [
    ("- id: a\n- id: b\n", "a list", 1),
    ("# comment\n\n- a\n", "a list", 3),
    ("42\n", "the value 42", 1),
    ("just some words\n", "the text 'just some words'", 1),
])
def test_non_mapping_documents(text: str, kind: str, line: int) -> None:
    _, diagnostics = parse_flow(text, "f.yml")
    assert [(d.code, d.line) for d in diagnostics] == [("not-a-mapping", line)]
    assert diagnostics[0].message.endswith(f"this document is {kind}")


def test_a_document_that_is_one_key_without_space_gets_the_hint() -> None:
    assert found("namespace:examples\n") == [("yaml-syntax", 1, 1)]


def test_tab_indentation() -> None:
    codes = found("id: a\n\tnamespace: b\n")
    assert ("yaml-syntax", 2, 1) in codes
    assert "tabs are not allowed" in messages("id: a\n\tnamespace: b\n")[0]


def test_control_character_position() -> None:
    _, diagnostics = parse_flow("id: a\nnamespace: b\x00c\n", "f.yml")
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("yaml-syntax", 2, 13)]
    assert "U+0000" in diagnostics[0].message


def test_unclosed_flow_sequence_points_past_the_end() -> None:
    _, diagnostics = parse_flow("id: a\nnamespace: [b\n", "f.yml")
    assert diagnostics[0].code == "yaml-syntax"
    assert diagnostics[0].line == 3


def test_key_without_space_swallowed_into_the_value_above() -> None:
    # loads without a YAML error: 'message:hi' becomes part of the type name
    assert found("""
        id: a
        namespace: b
        tasks:
          - id: x
            type: io.kestra.plugin.core.log.Log
            message:hi
    """) == [("yaml-syntax", 6, 5)]


def test_dash_without_space_as_a_value() -> None:
    codes = found("""
        id: a
        namespace: b
        triggers:
          -id:daily
          type:x
    """)
    assert codes == [("yaml-syntax", 4, 3), ("yaml-syntax", 4, 4), ("yaml-syntax", 5, 3)]


def test_urls_and_images_are_not_mistaken_for_missing_spaces() -> None:
    flow, diagnostics = parse_flow(textwrap.dedent("""
        id: a
        namespace: b
        tasks:
          - id: x
            type: io.kestra.plugin.scripts.python.Commands
            containerImage: python:3.11-slim
            commands:
              - echo http://example.com
            env:
              A: "x:y"
    """), "f.yml")
    assert diagnostics == [] and flow is not None


def test_deep_nesting_is_a_diagnostic() -> None:
    _, diagnostics = parse_flow("[" * 5000, "f.yml")
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("nesting-too-deep", 1, 65)]


@pytest.mark.parametrize("text", [
    "id: !!int x\n", "id: !!float nope\n", "a: &x [*x]\n", "id: !!omap [a: 1]\n",
    "base: &b {x: 1}\nid: a\n<<: *b\n", "? [a, b]\n: c\n", "id: !!set {a, b}\n",
    "id: !!binary aGk=\n", "\ufeffid: [\n", "id: 2001-02-30\n",
])
def test_odd_yaml_never_raises(text: str) -> None:
    _, diagnostics = parse_flow(text, "f.yml")
    assert diagnostics
    assert all(d.code != "internal-error" for d in diagnostics)


def test_positions_of_keys_values_and_items() -> None:
    located = load("id: a\ntasks:\n  - id: x\n    message: hi\n", "f.yml")
    assert located.key_pos[("tasks",)] == (2, 1)
    assert located.value_pos[("tasks", 0)] == (3, 5)
    assert located.key_pos[("tasks", 0, "message")] == (4, 5)
    assert located.value_pos[("tasks", 0, "message")] == (4, 14)
    assert located.pos(("tasks", 0, "missing")) == (3, 5)


def test_dates_stay_as_written() -> None:
    located = load("a: 2024-01-31\nb: 2024-01-31 10:00:00Z\nc: 2001-02-30\n", "f.yml")
    assert located.data == {"a": "2024-01-31", "b": "2024-01-31 10:00:00Z", "c": "2001-02-30"}


def test_load_raises_only_yaml_syntax_error() -> None:
    with pytest.raises(YamlSyntaxError) as err:
        load("a: [", "f.yml")
    assert err.value.diagnostics[0].file == "f.yml"
