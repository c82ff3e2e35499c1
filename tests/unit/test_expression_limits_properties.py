"""Random chains of amplifying filters and operators, with large numeric arguments,
either render small or stop at a limit, and never allocate past a budget."""

from __future__ import annotations

import gc
import re
import resource
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.expressions import ExpressionError, Renderer

PEAK_MB = 150  # allocation budget of one render, far below what an escape would take
RENDERER = Renderer(time_limit=3.0)
LIMIT_ERROR = re.compile(r"longer than|more than|too long")

# Each step rewrites x; {n} is a (possibly huge) number, {x} the value so far.
STEPS = [
    "x | indent({n}, 'xxxxxxxxxx')",
    "x | nindent({n})",
    "x ~ x ~ x",
    "x + x",
    "x | replace({{'a': x}})",
    "x | replace({{'a': 'aaaaaaaaaaaaaaaa'}})",
    "[x, x, x, x] | join(x)",
    "range(0, {n}) | join(x)",
    "(0..{n}) | join('ab')",
    "[x, x, x, x, x, x, x, x]",
    "x | toJson",
    "x | urlencode",
    "x | base64encode",
    "x | replace({{'a': \"'\"}}) | escapeChar('shell')",
    "x | split('') | chunk(1) | toJson",
    "[x, x, x] | jq('(.,.,.)|(.,.,.)|(.,.,.)|.[]?') | join(x)",
    "[x, x, x] | jq('add') | toJson",
    "x | abbreviate({n})",
    "'2024-01-01T00:00:00Z' | date(x | replace({{'[^a]': ''}}, regexp=true) | replace({{'a': 'V-'}}), "
    "timeZone='Europe/Paris')",
]
numbers = st.one_of(st.integers(0, 50), st.integers(0, 10**6), st.integers(0, 10**12))
chains = st.lists(st.tuples(st.sampled_from(STEPS), numbers), min_size=1, max_size=6)
seeds = st.sampled_from(["'a\\nb'", "'aaaa'", "'a\\na\\na'", "[1, 'a']", "'€a'"])


@pytest.fixture(autouse=True, scope="module")
def capped_memory() -> Iterator[None]:
    """A regression fails with MemoryError instead of taking the machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    cap = used + (2 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds, chains)
def test_amplifying_chains_render_small_or_hit_a_limit(seed: str, chain: list[tuple[str, int]]) -> None:
    template = "{% set x = " + seed.replace("\\n", "\n") + " %}" + "".join(
        "{% set x = " + step.format(n=n) + " %}" for step, n in chain) + "{{ x }}"
    gc.collect()
    tracemalloc.start()
    try:
        out = RENDERER.render_text(template, {})
    except ExpressionError as err:
        out = None
        message = str(err)
        assert LIMIT_ERROR.search(message), message
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert out is None or len(out) <= 1_000_000
    assert peak < PEAK_MB * 2**20, f"{peak / 2**20:.0f} MB for {template[:300]}"
