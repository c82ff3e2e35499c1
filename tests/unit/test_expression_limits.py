"""Expressions cannot escape their limits: each amplifying filter, operator and jq
program is refused by its own limit, with bounded memory, before the deadline.

The abuses run in one child process whose address space is capped (RLIMIT_AS),
so a regression fails these tests with a MemoryError instead of taking the
machine's memory; the child reports each template's error and tracemalloc peak.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from runner.expressions import ExpressionError, Renderer

MEMORY_CAP = 1 << 30  # address space of the child process
PEAK_MB = 100  # what one abuse may allocate before its limit stops it

LONG = "{% set s = 'a\na' | indent(999990) %}"  # a string just under the 1,000,000 limit
SHARED = "{% set r = range(0, 199999) %}{% set l = [r, r, r, r, r] %}"  # 1,000,000 items unfolded
LOOPING_JQ = "def f: f; f"  # libjq runs it forever: only killing its worker ends it

ABUSES: list[tuple[str, str, str]] = [
    ("indent", "{{ 'a\nb' | indent(300000000, 'xxxxxxxxxx') }}",
     "indent: the result would be longer than 1000000 characters"),
    ("nindent", "{{ 'a' | nindent(300000000) }}", "nindent: the result would be longer than"),
    ("string times number", "{{ 'a' * 1000000000 }}", "'\\*' needs numbers, not string"),
    ("list times number", "{{ [1] * 1000000000 }}", "'\\*' needs numbers, not list"),
    ("range", "{{ range(0, 1000000000) }}", "range: would produce 1000000001 numbers, more than"),
    ("range operator", "{{ (0..1000000000) | length }}", "more than 1000000"),
    ("replace amplification", "{{ 'x'" + (" | replace({'x': '" + "x" * 40 + "'})") * 5 + " }}",
     "replace: the result is too long"),
    ("replace over a shared list", "{% set h = 'a\na' | indent(499990, 'a') %}{{ [" + ",".join("h" * 20)
     + "] | replace({'a': 'aa'}) | length }}",
     "replace: the result would be longer than 10000000 characters"),
    ("join", "{{ range(0, 99999) | join('xxxxxxxxxx') }}", "join: the result would be longer than"),
    ("join of one long string", LONG + "{{ [s,s,s,s,s,s,s,s,s,s] | join }}", "join: the result would be"),
    ("concatenation", LONG + "{{ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s }}", "a value would be longer than 1000000"),
    ("plus on strings", LONG + "{{ s + s }}", "a value would be longer than 1000000"),
    ("plus on lists", SHARED + "{{ (l + l) | length }}", "'\\+': the result would have more than 2000000"),
    ("merge", SHARED + "{{ l | merge(l) | length }}", "merge: the result would have"),
    ("chunk", "{{ range(0, 999999) | chunk(1) | length }}", "chunk: the result would have more than"),
    ("text held in a list", LONG + "{% set l = [s,s,s,s,s,s,s,s,s,s] %}{{ [l, l] | length }}",
     "holds more than 10000000 characters"),
    ("urlencode", "{{ ('€\n€' | indent(999990, '€')) | urlencode }}", "urlencode: the result would be"),
    ("base64encode", "{{ ('€\n€' | indent(999990, '€')) | base64encode }}", "base64encode: the result"),
    ("escapeChar", "{{ (\"'\n'\" | indent(999990, \"'\")) | escapeChar('shell') }}",
     "escapeChar: the result would be longer than"),
    ("toJson", LONG + "{% set l = [s,s,s,s,s,s,s,s,s,s] %}{{ l | toJson | length }}",
     "longer than 1000000 characters as JSON"),
    ("date format width", "{{ '2024-01-01T00:00:00Z' | date('-\n-' | indent(40000, 'V-'), "
     "timeZone='America/Argentina/Buenos_Aires') }}", "date: the result would be longer than"),
    ("date parse pattern", "{{ '1' | date('iso', existingFormat=(range(0, 999) | join('y'))) }}",
     "a date pattern to parse is longer than 1000"),
    ("jq doubling a string", "{{ 1 | jq('reduce range(40) as $i (\"x\"; . + .)') }}",
     "jq: the program was stopped: it needed more than 512 MiB of memory"),
    ("jq many results", "{{ 1 | jq('range(1e9)') }}", "jq: more than 100000 results"),
    ("jq long results", LONG + "{{ [s,s,s,s,s] | jq('.[], .[], .[]') }}",
     "jq: the results are longer than 10000000 characters as JSON"),
    ("jq add", LONG + "{{ [s,s,s,s,s] | jq('add') }}", "a value is longer than 1000000 characters"),
]

CHILD = textwrap.dedent("""
    import gc, json, resource, sys, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
    from runner.expressions import ExpressionError, Renderer
    renderer = Renderer(time_limit=120)  # far away: each abuse must meet its own limit
    renderer.render_text("{{{{ 1 }}}}", {{}})  # loads the parser and jinja2 before measuring
    tracemalloc.start()
    for template in json.load(sys.stdin):
        gc.collect()  # an earlier abuse's garbage must not count against this one
        tracemalloc.reset_peak()
        try:
            result = "rendered " + renderer.render_text(template, {{}})[:200]
        except ExpressionError as err:
            result = str(err)
        except MemoryError:
            result = "MemoryError"
        peak = tracemalloc.get_traced_memory()[1]
        print(json.dumps([result, peak / 2**20]), flush=True)
""")


def run_capped(templates: list[str]) -> list[tuple[str, float]]:
    """Render each template in a child capped at MEMORY_CAP: (message, peak MB)."""
    done = subprocess.run([sys.executable, "-c", CHILD.format(cap=MEMORY_CAP)],
                          input=json.dumps(templates), capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [(str(message), float(peak)) for message, peak in map(json.loads, done.stdout.splitlines())]


@pytest.fixture(scope="module")
def abuse_results() -> dict[str, tuple[str, float]]:
    results = run_capped([template for _, template, _ in ABUSES])
    return {name: result for (name, _, _), result in zip(ABUSES, results, strict=True)}


@pytest.mark.parametrize(("name", "message"), [(n, m) for n, _, m in ABUSES], ids=[n for n, _, _ in ABUSES])
def test_abuse_is_refused_by_its_limit_with_bounded_memory(
        abuse_results: dict[str, tuple[str, float]], name: str, message: str) -> None:
    error, peak_mb = abuse_results[name]
    assert error.startswith("cannot render"), error
    assert re.search(message, error), error
    assert peak_mb < PEAK_MB


def test_values_that_stay_small_still_render_cheaply() -> None:
    retained = LONG + "{% for i in range(0, 3000) %}{% set t = [s ~ i] %}{% endfor %}done"
    (indented, indent_peak), (loop, loop_peak) = run_capped(
        ["{{ 'a' | indent(300000000, 'xxxxxxxxxx') }}", retained])
    assert indented == "rendered a"  # one line: nothing to indent, and no pad is built
    assert indent_peak < 5
    assert loop == "rendered done"  # each [s ~ i] is measured; the memo must not keep them all
    assert loop_peak < PEAK_MB


def test_jq_stops_at_the_render_deadline() -> None:
    with pytest.raises(ExpressionError, match=r"rendering took longer than 0\.2s"):
        Renderer(time_limit=0.2).render_text("{{ 1 | jq('" + LOOPING_JQ + "') }}", {})


def test_long_filter_loops_check_the_deadline() -> None:
    template = "{% set l = range(1, 999999) %}{{ l contains range(1000000, 1000300) }}"
    with pytest.raises(ExpressionError, match=r"rendering took longer than 0\.2s"):
        Renderer(time_limit=0.2).render_text(template, {})


def test_one_deadline_covers_every_string_of_a_render() -> None:
    slow = "{% for i in range(0, 20000) %}{% endfor %}x"
    renderer = Renderer(time_limit=0.5)
    assert renderer.render(slow, {}) == "x"  # alone, well inside the limit
    with pytest.raises(ExpressionError, match=r"rendering took longer than 0\.5s"):
        renderer.render({"commands": [slow] * 2000}, {})


def test_caller_can_shorten_the_deadline_and_stop_rendering() -> None:
    renderer = Renderer()
    with pytest.raises(ExpressionError, match=r"rendering took longer than 0s"):
        renderer.render({"a": "{{ 1 }}"}, {}, time_limit=0)
    assert renderer.render({"a": "plain"}, {}, time_limit=0) == {"a": "plain"}
    with pytest.raises(ExpressionError, match="rendering was stopped"):
        renderer.render_text("{{ 1 }}", {}, cancelled=lambda: True)
    assert renderer.render_text("{{ 1 }}", {}, time_limit=30, cancelled=lambda: False) == "1"


def test_jinja_operators_are_never_reached() -> None:
    from runner.expressions.sandbox import Sandbox

    compiled = Sandbox({}, str).compile("{{ _k[0] * _k[1] }}", ["a", 10**9])
    with pytest.raises(Exception, match="operator '\\*' is not available"):
        list(compiled.iterate({}))


def test_limits_leave_ordinary_values_alone() -> None:
    renderer = Renderer()
    context: dict[str, Any] = {"rows": [{"id": i, "name": f"row {i}"} for i in range(20_000)]}
    assert renderer.render_text("{{ 'a\nb' | indent(4) }}", {}) == "a\n    b"
    assert renderer.render_text("{{ 'a' | nindent(2, '-') }}", {}) == "\n--a"
    assert renderer.render_text("{{ rows | jq('.[] | .id') | length }}", context) == "20000"
    assert renderer.render_text("{{ ['a', 'b'] | jq('add') }}", {}) == '["ab"]'
    assert renderer.render_text("{{ [[1], [2]] | jq('add') }}", {}) == "[[1,2]]"
    assert renderer.render_text("{{ range(1, 3) | join(', ') }}", {}) == "1, 2, 3"
    assert renderer.render_text("{{ 'x y' | urlencode }}", {}) == "x+y"
    assert renderer.render_text("{{ [1, 2] contains 2 }}", {}) == "true"
