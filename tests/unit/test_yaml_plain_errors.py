"""YAML syntax errors in plain words (issue 18): the common ruamel parser messages become a
sentence naming the text at fault and where its block opened, at the same line:col."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.yamlsource import YamlSyntaxError, load
from tests.conftest import run_cli

JARGON = ("<block end>", "<block mapping start>", "<block sequence start>", "while parsing",
          "while scanning", "but found", "but got")

VALID = """\
id: hello
namespace: demo
inputs:
  - id: name
    type: STRING
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "hi {{ inputs.name }}"
  - id: list
    type: io.kestra.plugin.core.log.Log
    message: [a, b]
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(YamlSyntaxError) as caught:
        load(textwrap.dedent(text), "flow.yml")
    return [d.format() for d in caught.value.diagnostics]


@pytest.mark.parametrize(("text", "expected"), [
    ("id: a\ntasks:\n  - id: x\n    type: t\n   message: hi\n",
     "flow.yml:5:4: error yaml-syntax: a mapping is not closed: a key `message: hi` at line 5 "
     "col 4 is indented differently from the block it follows (which starts at line 3 col 3)"),
    ("tasks:\n  - id: a\n  type: b\n",
     "flow.yml:3:3: error yaml-syntax: a mapping is not closed: `type: b` at line 3 col 3 lines "
     "up with the '-' of the list item at line 2 col 3"),
    ("id: a\nnamespace: b\n- id: c\n",
     "flow.yml:3:1: error yaml-syntax: a list item `- id: c` at line 3 col 1 cannot follow the "
     "keys of the mapping that starts at line 1 col 1"),
    ("id: a\nmessage: hi: there\n",
     "flow.yml:2:12: error yaml-syntax: unexpected ':' at line 2 col 12 in `message: hi: there`"),
    ('id: a\nmessage: "hi\nnamespace: b\n',
     "flow.yml:4:1: error yaml-syntax: a quoted string opened at line 2 col 10 is never closed"),
    ("id: a\nlist: [1, 2\nnamespace: b\n",
     "flow.yml:3:10: error yaml-syntax: a list opened with `[` at line 2 col 7 is not closed "
     "with `]` (found ':' at line 3 col 10)"),
    ("id: a\nmap: {a: 1\n",
     "flow.yml:3:1: error yaml-syntax: a mapping opened with `{` at line 2 col 6 is not closed "
     "with `}` (found the end of the file at line 3 col 1)"),
    ("a: 1\nb\nc: 2\n",
     "flow.yml:3:1: error yaml-syntax: `b` at line 2 col 1 is neither `key: value` nor a list "
     "item `- value`"),
    ("a: *nope\n", "flow.yml:1:4: error yaml-syntax: `a: *nope` at line 1 col 4: '*' starts a "
                   "YAML alias, and no `&anchor` of that name is defined"),
    ("a: @x\n", "flow.yml:1:4: error yaml-syntax: a plain value cannot start with '@' (line 1 "
                "col 4); quote the value"),
])
def test_common_parser_errors_read_as_plain_words(text: str, expected: str) -> None:
    errors = _errors(text)
    assert any(e.startswith(expected) for e in errors), errors
    assert not any(j in e for e in errors for j in JARGON), errors


def _shift(text: str, line: int, spaces: int) -> str:
    lines = text.splitlines()
    index = line % len(lines)
    lines[index] = " " * spaces + lines[index]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 5)), min_size=1, max_size=3))
def test_an_indentation_slip_is_a_plain_error_at_a_line_of_the_file(
        slips: list[tuple[int, int]]) -> None:
    """Shifting lines of a valid flow right either still loads or gives errors without the
    parser's token names, each at a line:col inside the file."""
    text = VALID
    for line, spaces in slips:
        text = _shift(text, line, spaces)
    try:
        load(text, "flow.yml")
    except YamlSyntaxError as err:
        lines = text.splitlines()
        for diagnostic in err.diagnostics:
            message = diagnostic.format()
            assert not any(j in message for j in JARGON), message
            assert 1 <= diagnostic.line <= len(lines) + 1, message
            assert diagnostic.column >= 1 and diagnostic.code in ("yaml-syntax", "duplicate-key")


def test_validate_prints_the_plain_message_with_file_line_col(tmp_path: Path) -> None:
    flow = tmp_path / "broken.yml"
    flow.write_text("id: a\nnamespace: b\ntasks:\n  - id: x\n    type: t\n   message: hi\n")
    result = run_cli("validate", str(flow))
    assert result.returncode == 1
    assert f"{flow}:6:4: error yaml-syntax: a mapping is not closed: a key `message: hi`" \
        in result.stdout
    assert "<block" not in result.stdout
