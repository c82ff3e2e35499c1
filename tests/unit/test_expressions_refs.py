"""Static analysis of templates: references() and syntax_error()."""

from __future__ import annotations

import pytest

from runner.expressions import references, syntax_error


@pytest.mark.parametrize(("template", "expected"), [
    ("no template here", []),
    ("{{ outputs.task1.value }}", [("outputs", "task1", "value")]),
    ("{{ inputs['name'] }}", [("inputs", "name")]),
    ("{{ outputs['second-task'].value }}", [("outputs", "second-task", "value")]),
    ("{{ inputs.list[0].a }}", [("inputs", "list")]),
    ("{{ outputs[taskrun.value].value }}", [("outputs",), ("taskrun", "value")]),
    ("{{ inputs.a ?? inputs.b }} {{ inputs.a }}", [("inputs", "a"), ("inputs", "b")]),
    ("{{ fromJson(outputs.t.value).x | jq(inputs.q) | default(vars.d) }}",
     [("outputs", "t", "value"), ("inputs", "q"), ("vars", "d")]),
    ("{% for x in inputs.list %}{{ x.a }} {{ loop.index }} {{ inputs.b }}{% endfor %}",
     [("inputs", "list"), ("inputs", "b")]),
    ("{% for x in [] %}{% else %}{{ x }}{% endfor %}", [("x",)]),
    ("{% set y = inputs.a %}{{ y.b }}", [("inputs", "a")]),
    ("{{ y }}{% set y = 1 %}{{ y }}", [("y",)]),
    ("{% for i in [1] %}{% set z = 1 %}{% endfor %}{{ z }}", [("z",)]),
    ("{% if inputs.x %}{{ outputs.a.b }}{% elseif inputs.y %}{% else %}{{ c }}{% endif %}",
     [("inputs", "x"), ("outputs", "a", "b"), ("inputs", "y"), ("c",)]),
    ("{% filter replace({'a': vars.b}) %}{{ d }}{% endfilter %}", [("vars", "b"), ("d",)]),
    ("{{ inputs.n > 2 ? outputs.a.v : outputs.b.v }}",
     [("inputs", "n"), ("outputs", "a", "v"), ("outputs", "b", "v")]),
    ("{{ [inputs.a, {'k': inputs.b}] }}", [("inputs", "a"), ("inputs", "b")]),
    ("{{ inputs.a is defined and outputs.t.value contains 'x' }}",
     [("inputs", "a"), ("outputs", "t", "value")]),
    ("{{ now() | date('yyyy') }} {{ 'literal' }}", []),
])
def test_references(template: str, expected: list[tuple[str, ...]]) -> None:
    assert references(template) == expected


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ inputs.a }} {{ oops( }} {{ outputs.t.v }}", [("inputs", "a"), ("outputs", "t", "v")]),
    ("{% if inputs.x %}{{ outputs.a.b }}", [("inputs", "x"), ("outputs", "a", "b")]),
    ("{% for x in inputs.list %}{{ x.a }}{{ inputs.b | nope }}", [("inputs", "list"), ("inputs", "b")]),
    ("{{ inputs.a }} {{ 'unclosed", [("inputs", "a")]),
    ("{% set y = inputs.a %}{{ y }}{% endif %}", [("inputs", "a")]),
    ("{{ }}{{", []),
])
def test_references_of_broken_templates(template: str, expected: list[tuple[str, ...]]) -> None:
    assert references(template) == expected


@pytest.mark.parametrize("template", [
    "plain", "{{ inputs.a }}", "{% for x in y %}{{ x }}{% else %}-{% endfor %}",
    "{% raw %}{{ not parsed {% %}{% endraw %}", "echo ${#arr[@]}",
])
def test_valid_templates_have_no_syntax_error(template: str) -> None:
    assert syntax_error(template) is None


@pytest.mark.parametrize(("template", "message"), [
    ("{{ inputs.a | uper }}", "unknown filter 'uper' (did you mean 'upper'?) (column 15)"),
    ("{{ 1 + }}", "unexpected end of expression (column 8)"),
    ("{% if x %}", "missing '{% endif %}'"),
    ("{% for x %}{% endfor %}", "expected 'in'"),
    ("{{ x is wobbly }}", "unknown test 'wobbly' (column 9)"),
    ("line one\n{{ a.b() }}", "method calls are not supported ('.b(…)') (line 2, column 6)"),
    ("line one\n{{ a.b( }}", "'{{' is not closed with '}}' (line 2, column 1)"),
    ("{% include 'x' %}", "the '{% include %}' tag is not supported"),
])
def test_syntax_errors(template: str, message: str) -> None:
    error = syntax_error(template)
    assert error is not None and message in error
