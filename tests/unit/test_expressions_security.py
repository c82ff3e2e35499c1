"""Hostile templates: no Python internals, no files, no environment, bounded work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner.expressions import ExpressionError, Renderer

MARKER = "gitflows-canary-7f3a9c"

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ [].__class__.__base__ }}",
    "{{ inputs.__class__.__init__.__globals__ }}",
    "{{ inputs['__class__'] }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ self }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ range(10) }}",
    "{{ dict(a=1) }}",
    "{{ lipsum() }}",
    "{{ __import__('os').environ }}",
    "{% set os = __import__('os') %}{{ os.environ }}",
    "{{ 'abc'.upper() }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '%s' % 1 }}",
    "{{ inputs.items() }}",
    "{{ inputs | attr('__class__') }}",
    "{{ inputs | map('upper') }}",
    "{{ _k }}",
    "{{ _call('secret', ['X'], {}) }}",
    "{{ _path }}",
    "{{ v_inputs }}",
    "{{ b_1 }}",
    "{{ loop }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% from 'os' import environ %}",
    "{% extends '/etc/passwd' %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% block b %}{% endblock %}{{ blk_0 }}",
    "{% macro m() %}{{ file }}{% endmacro %}{{ m() }}",  # a macro sees only its arguments
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m_m(1) }}",
    "{% macro m() %}{% endmacro %}{{ block('m') }}",
    "{{ read('/etc/passwd') }}",
    "{{ read(file) }}",
    "{{ 'a' ** 3 }}",
    "{{ 7 // 2 }}",
    "{{ x if true else y }}",
    "{{ foo|safe }}",
    "{{ 1 }}{% endraw %}{{ 2 }}",
]


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GITFLOWS_CANARY", MARKER)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(MARKER)
    return secret_file


@pytest.mark.parametrize("template", ESCAPES)
def test_escape_attempts_fail_without_leaking(canary: Path, template: str) -> None:
    renderer = Renderer()
    context = {"inputs": {"name": "x"}, "file": str(canary)}
    with pytest.raises(ExpressionError) as caught:
        renderer.render_text(template, context)
    assert MARKER not in str(caught.value)


@pytest.mark.parametrize("template", [
    "{{ inputs.items }}", "{{ inputs.keys ?? 'no attribute' }}", "{{ 'x'.join ?? 'none' }}",
    "{{ \"}}{{ 7 * 7 }}\" }}", "{{ '{% if true %}' }}", "{{ '{{ secret }}' }}",
])
def test_lookalikes_render_harmlessly(canary: Path, template: str) -> None:
    try:
        out = Renderer().render_text(template, {"inputs": {"items": "data"}})
    except ExpressionError as err:
        out = str(err)
    assert MARKER not in out
    assert "built-in" not in out and "<" not in out


def test_strings_that_look_like_templates_stay_strings() -> None:
    renderer = Renderer()
    assert renderer.render_text("{{ '{{ 7 * 7 }}' }}", {}) == "{{ 7 * 7 }}"
    assert renderer.render_text("{{ x }}", {"x": "{{ 7 * 7 }}"}) == "{{ 7 * 7 }}"


LIMITS = [
    ("{{ range(0, 1000000000) }}", "range"),
    ("{{ 'a' * 1000000000 }}", "needs numbers"),
    ("{% set s = 'ab' %}" + "{% set s = s ~ s %}" * 40 + "{{ s }}", "longer than"),
    ("{% set s = 'ab' %}" + "{% set s = s + s %}" * 40 + "{{ s }}", "longer than"),
    ("{% set l = [1] %}" + "{% set l = [l, l] %}" * 40 + "{{ l }}", "more than"),
    ("{% set l = [1] %}" + "{% set l = [l, l] %}" * 40 + "{{ l == l }}", "more than"),
    ("{% set l = [1] %}" + "{% set l = l + l %}" * 40 + "{{ l | length }}", "more than"),
    ("{% set m = {'a': 1} %}" + "{% set m = {'a': m, 'b': m} %}" * 40 + "{{ m | toJson }}", "more than"),
    ("{% set l = [1] %}" + "{% set l = [l] %}" * 200 + "{{ l }}", "nested more than"),
    ("{% set n = 2 %}" + "{% set n = n * n %}" * 20 + "{{ n }}", "overflow"),
    ("{% for i in range(0, 999999) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}", "longer than"),
    ("{% filter upper %}{% for i in range(0, 999999) %}{{ 'xxxxxxxxxx' }}{% endfor %}{% endfilter %}",
     "longer than"),
    ("{% for i in range(0, 999999) %}{% for j in range(0, 999999) %}{% endfor %}{% endfor %}",
     "loop iterations"),
    ("{{ 'x' | replace({'x': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}) | replace({'x': "
     "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}) | replace({'x': 'xxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxx'}) | replace({'x': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}) }}", "too long"),
    ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "nested too deeply"),
    ("{{ " + "[" * 300 + "]" * 300 + " }}", "nested too deeply"),
    ("{{ " + " + ".join(["1"] * 500) + " }}", "nested too deeply"),
    ("{{ x" + ".a" * 500 + " }}", "too many attribute"),
    ("{% if true %}" * 100 + "{% endif %}" * 100, "nested too deeply"),
    ("{{ render(vars.loop) }}", "render\\(\\) is nested"),
    ("{{ x }}" * 6000, "template is too large"),
    ("{{ [" + ",".join(["1"] * 12000) + "] }}", "template is too large"),
]


@pytest.mark.parametrize(("template", "message"), LIMITS, ids=[t[:60] for t, _ in LIMITS])
def test_limits_fail_fast(template: str, message: str) -> None:
    """Each abuse is stopped by its own limit (the message says which), not by the wall
    clock: the time limit is set far away so a loaded machine cannot blur the two."""
    with pytest.raises(ExpressionError, match=message):
        Renderer(time_limit=600).render_text(template, {"vars": {"loop": "{{ render(vars.loop) }}"}})


def test_wall_clock_limit() -> None:
    renderer = Renderer(time_limit=0.3)
    template = "{% for i in range(0, 500) %}{% for j in range(0, 500) %}{% set x = i ~ j %}" \
               "{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"longer than 0\.3s"):
        renderer.render_text(template, {})
    assert time.monotonic() - started < 15  # stopped, not run to the end (minutes)


def test_output_limit_is_configurable() -> None:
    renderer = Renderer(max_output=10)
    assert renderer.render_text("{{ '0123456789' }}", {}) == "0123456789"
    with pytest.raises(ExpressionError, match="longer than 10 characters"):
        renderer.render_text("{{ '0123456789' }}!", {})


def test_large_context_values_print_within_limits() -> None:
    rows = [{"id": i, "name": f"row {i}"} for i in range(20_000)]
    out = Renderer().render_text("{{ rows | length }} {{ rows | jq('.[-1].id') | first }}", {"rows": rows})
    assert out == "20000 19999"


def test_injected_function_errors_become_expression_errors() -> None:
    def broken(name: str) -> str:
        raise KeyError(name)

    with pytest.raises(ExpressionError, match=r"secret.*'NOPE'"):
        Renderer(functions={"secret": broken}).render_text("{{ secret('NOPE') }}", {})


def test_backtracking_patterns_run_in_linear_time() -> None:
    """Patterns that make a backtracking engine run for hours are answered at once on RE2
    (split, replace with regexp=true and the regex* filters share it)."""
    renderer = Renderer(time_limit=600)
    text = "a" * 100_000 + "!"
    assert renderer.render_text("{{ t | split('(a+)+$') | length }}", {"t": text}) == "1"
    assert renderer.render_text("{{ t | replace({'a*a*a*a*a*b': ''}, regexp=true) | length }}",
                                {"t": text}) == "100001"
