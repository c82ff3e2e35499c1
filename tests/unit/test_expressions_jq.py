"""The `jq` filter runs real jq (libjq) in a bounded worker, with Kestra's semantics.

Kestra: "The filter always return an array of result" and a string input is read
as JSON (https://kestra.io/docs/expressions/filter/json#jq, and Kestra's
JqFilter). Hostile programs end with an expression error within seconds and
without the server's memory; the worker sees none of the server's environment.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.expressions import ExpressionError, Renderer
from runner.expressions import jq as jq_module
from runner.expressions.errors import EvalError

RENDERER = Renderer()
SCORES = {"English": 72, "Maths": 88, "French": 95, "Spanish": 85, "Science": 91}


def render(template: str, **context: Any) -> str:
    return RENDERER.render_text(template, context)


@pytest.mark.parametrize(("template", "expected"), [
    # https://kestra.io/docs/expressions/filter/json#jq (the page prints '[1, 2, 3]' here, but
    # its own rule, "always return an array of result", and Kestra's JqFilter give a list of one)
    ("{{ [1, 2, 3] | jq('.') }}", "[[1,2,3]]"),
    ("{{ [1, 2, 3] | jq('.[0]') | first }}", "1"),
    # https://kestra.io/docs/expressions/filter/json ("Manipulating JSON payload": Total score: 431)
    ("{{ scores | values | jq('reduce .[] as $num (0; .+$num)') | first }}", "431"),
    # jq's manual: select, map, arithmetic, builtins
    ("{{ [1, 5, 3, 0, 7] | jq('map(select(. >= 2))') | first }}", "[5,3,7]"),
    ("{{ [1, 2, 3] | jq('map(. * 10 + 1)') | first }}", "[11,21,31]"),
    ("{{ [1, 2, 3] | jq('.[] | select(. > 1)') }}", "[2,3]"),
    ("{{ {'a': 1, 'b': 2} | jq('to_entries | map(\"\\(.key)=\\(.value)\") | join(\",\")') | first }}",
     "a=1,b=2"),
    ("{{ [3, 1, 2] | jq('sort, max, min, add / length') }}", "[[1,2,3],3,1,2]"),
    ("{{ [{'n': 'b', 'v': 2}, {'n': 'a', 'v': 1}] | jq('sort_by(.v) | map(.n)') | first }}", '["a","b"]'),
    ("{{ [[1, 2], [3]] | jq('flatten | unique | length') | first }}", "3"),
    ("{{ 'a-b-c' | toJson | jq('split(\"-\") | reverse') | first }}", '["c","b","a"]'),
    ("{{ {'x': null} | jq('.x // \"fallback\"') | first }}", "fallback"),
    ("{{ {'a': {'b': 1}} | jq('[paths | join(\".\")]') | first }}", '["a","a.b"]'),
    ("{{ [1, 2] | jq('empty') }}", "[]"),
    ("{{ 'xyz' | toJson | jq('test(\"y\")') | first }}", "true"),
    ("{{ '{\"a\": [5, 6]}' | jq('.a | map(. - 5)') | first }}", "[0,1]"),  # a string is JSON
    # plain paths (read without libjq when found) keep jq's answers when not found
    ("{{ {'a': 1} | jq('.b') }}", "[null]"),
    ("{{ [1] | jq('.[5]') }}", "[null]"),
    ("{{ null | jq('.a') }}", ""),  # Kestra: a null input gives null
])
def test_documented_jq_programs(template: str, expected: str) -> None:
    assert render(template, scores=SCORES) == expected


@pytest.mark.parametrize(("template", "message"), [
    ("{{ 1 | jq('.a') }}", 'jq: Cannot index number with string'),
    ("{{ 1 | jq('error(\"boom\")') }}", "jq: boom"),
    ("{{ 1 | jq('.[') }}", "jq: syntax error"),
    ("{{ 'not json' | jq('.') }}", "jq: the input is not JSON"),
    ("{{ 1 | jq('import \"etc/passwd\" as $p; $p') }}", "jq: module not found"),
    ("{{ 1 | jq('include \"../x\"; .') }}", "may not traverse to parent directories"),
])
def test_jq_errors_are_expression_errors(template: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        render(template)


def test_a_looping_program_is_killed_at_the_deadline_and_the_next_call_works() -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"rendering took longer than 0\.5s"):
        Renderer(time_limit=0.5).render_text("{{ 1 | jq('def f: f; f') }}", {})
    assert time.monotonic() - started < 30  # killed, not left running (generous: a loaded machine)
    assert render("{{ 2 | jq('. + 1') | first }}") == "3"


def test_a_program_that_never_ends_is_stopped_by_the_jq_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jq_module, "JQ_TIME_LIMIT", 0.3)
    with pytest.raises(ExpressionError, match=r"jq: the program ran longer than 0\.3s"):
        render("{{ 1 | jq('[range(1e9)]') }}")


def test_a_cancelled_render_stops_its_jq_program() -> None:
    with pytest.raises(ExpressionError, match="rendering was stopped"):
        # the first check passes, every later one says the task was cancelled
        flags = iter([False, False])
        Renderer().render_text("{{ 1 | jq('def f: f; f') }}", {}, cancelled=lambda: next(flags, True))


def test_a_program_that_grows_without_end_dies_in_its_worker_not_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jq_module, "JQ_TIME_LIMIT", 120)  # the memory limit must end it, not time
    before = _rss_mib()
    with pytest.raises(ExpressionError, match="needed more than 512 MiB of memory"):
        Renderer(time_limit=120).render_text(
            "{{ 1 | jq('reduce range(40) as $i (\"x\"; . + .) | length') }}", {})
    assert _rss_mib() - before < 100
    assert render("{{ [1, 2] | jq('add') | first }}") == "3"  # a new worker took its place


def test_results_are_bounded_in_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jq_module.MAX_RESULTS == 100_000
    # the count must end it, not time: a smaller cap and a long deadline hold on a busy machine
    monkeypatch.setattr(jq_module, "MAX_RESULTS", 1_000)
    monkeypatch.setattr(jq_module, "JQ_TIME_LIMIT", 120)
    with pytest.raises(ExpressionError, match="jq: more than 1000 results"):
        Renderer(time_limit=120).render_text("{{ 1 | jq('range(1e9)') }}", {})


def test_the_worker_sees_none_of_the_server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "c2VjcmV0")
    jq_module._current_pool().close()  # workers started after the variable was set
    environment = json.loads(render("{{ 1 | jq('$ENV') | first }}"))
    assert "SECRET_TOKEN" not in environment
    assert environment.keys() <= {"LC_ALL", "LC_CTYPE"}
    assert render("{{ 1 | jq('env.SECRET_TOKEN') }}") == "[null]"


def test_program_and_input_sizes_are_bounded() -> None:
    with pytest.raises(ExpressionError, match="jq: the program is longer than 10000 characters"):
        render("{{ 1 | jq(p) }}", p="." + " " * 10_000)


def test_parallel_renders_share_a_bounded_pool() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(n: int) -> str:
        return Renderer().render_text("{{ n | jq('[range(.)] | add') | first }}", {"n": n})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(2, 18)))
    assert results == [str(n * (n - 1) // 2) for n in range(2, 18)]
    assert len(jq_module._current_pool().idle) <= jq_module.MAX_WORKERS


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12)
PATHS = st.lists(st.one_of(st.from_regex(r"\.[a-z_][a-z0-9_]{0,3}", fullmatch=True),
                           st.integers(0, 3).map(lambda i: f"[{i}]"),
                           st.text("ab\u00e9 ", max_size=3).map(lambda k: f'["{k}"]')), max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_identity_returns_the_input(value: Any) -> None:
    text = json.dumps(value)  # a string input is JSON text, as in Kestra
    assert jq_module._libjq(".", text) == [value]
    assert jq_module.run(".", text) == [value]
    if not isinstance(value, str):
        assert jq_module._libjq(".", value) == [value]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, PATHS)
def test_plain_paths_read_in_python_agree_with_libjq(value: Any, steps: list[str]) -> None:
    program = "".join(steps) if steps and steps[0].startswith(".") else "." + "".join(steps)
    try:
        expected: Any = jq_module._libjq(program, value)
    except EvalError as err:  # the error is compared below
        expected = type(err)
    try:
        actual: Any = jq_module.run(program, value)
    except EvalError as err:
        actual = type(err)
    assert actual == expected, program


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        line = next(row for row in status if row.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_worker_started_past_descriptor_1024_still_answers() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip("this machine allows fewer than 1300 open descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1300, hard))
    held: list[int] = []
    try:
        while not held or held[-1] < 1100:  # the worker's pipes get numbers above 1024
            held.append(os.open(os.devnull, os.O_RDONLY))
        jq_module._current_pool().close()
        assert render("{{ [1, 2, 3] | jq('map(. * 2)') | first }}") == "[2,4,6]"
    finally:
        jq_module._current_pool().close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_worker_that_read_a_large_input_is_not_kept() -> None:
    pool = jq_module._current_pool()
    pool.close()
    assert render("{{ 1 | jq('. + 1') | first }}") == "2"
    kept = list(pool.idle)
    assert len(kept) == 1
    rows = [{"id": i, "name": "x" * 100} for i in range(20_000)]  # about 2.4 MB of JSON
    assert render("{{ rows | jq('map(.id) | add') | first }}", rows=rows) == str(sum(range(20_000)))
    assert all(worker.proc.poll() is None for worker in pool.idle)
    assert kept[0] not in pool.idle and kept[0].proc.poll() is not None
