"""Hostile YAML is bounded: size, nesting, alias expansion and node count each fail fast
with a positioned diagnostic, and parsed flows are kept by blob id."""

from __future__ import annotations

import subprocess
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import InvalidFlowError
from runner.language.catalog import DirectoryFlows
from runner.language.parse import PARSED, ParseCache, blob_id, load_flow, parse_flow
from runner.language.validate import validate_paths
from runner.yamlsource import LIMITS, YamlLimits, YamlSyntaxError, load

LOG = "io.kestra.plugin.core.log.Log"


def bomb(levels: int = 9, fan: int = 9) -> str:
    """The "billion laughs": each anchor a list of fan aliases of the one before."""
    lines = ["id: bomb", "namespace: demo", "a0: &a0 [" + ", ".join(['"lol"'] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    lines += ["tasks:", "  - id: x", f"    type: {LOG}", f"    message: *a{levels - 1}"]
    return "\n".join(lines) + "\n"


def codes(text: str, limits: YamlLimits = LIMITS) -> list[tuple[str, int, int]]:
    _, diagnostics = parse_flow(text, "f.yml", limits=limits)
    return [(d.code, d.line, d.column) for d in diagnostics]


def test_alias_bomb_fails_at_the_alias_that_crosses_the_budget() -> None:
    flow, diagnostics = parse_flow(bomb(), "bomb.yml")
    assert flow is None
    assert [d.format() for d in diagnostics] == [
        "bomb.yml:7:10: error alias-expansion: aliases expand to more than 10,000 nodes by "
        "here (*a3 stands for 7,381); write the repeated parts out, or share settings with "
        "pluginDefaults"]


def test_bigger_bombs_fail_at_the_same_place() -> None:
    assert codes(bomb(levels=30, fan=30)) == [("alias-expansion", 5, 55)]


def test_anchors_and_merge_keys_of_real_flows_still_work() -> None:
    text = textwrap.dedent(f"""\
        id: merged
        namespace: demo
        labels: &labels {{team: core, tier: gold}}
        variables:
          greeting: &greeting hello there
          copy: *labels
        tasks:
          - &log {{id: one, type: {LOG}, message: hi}}
          - {{<<: *log, id: two}}
          - {{<<: *log, id: three, message: *greeting}}
        """)
    flow, diagnostics = parse_flow(text, "f.yml")
    assert diagnostics == [] and flow is not None
    assert [t.id for t in flow.tasks] == ["one", "two", "three"]
    assert flow.tasks[1].props["message"] == "hi"
    assert flow.tasks[2].props["message"] == "hello there"
    assert flow.variables["copy"] == flow.labels == {"team": "core", "tier": "gold"}


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert codes("id: x\na: &a [1, *a]\n") == [("alias-expansion", 2, 11)]


def test_deep_nesting_is_refused_where_it_crosses() -> None:
    text = "id: x\nnamespace: demo\nv: " + "[" * 70 + "]" * 70 + "\n"
    assert codes(text) == [("nesting-too-deep", 3, 4 + 63)]


def test_an_alias_that_expands_too_deep_is_refused() -> None:
    deep = "[" * 40 + "1" + "]" * 40
    text = f"a: &a {deep}\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    _, diagnostics = parse_flow(text, "f.yml")
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("nesting-too-deep", 2, 34)]
    assert "alias *a expands to deeper than 64 levels" in diagnostics[0].message


def test_too_many_nodes_is_refused_with_the_line_reached() -> None:
    text = "id: x\nnamespace: demo\nv:\n" + "".join(f"  - {n}\n" for n in range(30_000))
    assert codes(text) == [("too-many-nodes", 19_997, 5)]  # 7 nodes before v's items


def test_a_file_over_the_size_limit_is_refused_at_the_line_that_crosses_it() -> None:
    line = "# " + "x" * 1021 + "\n"  # 1 KiB a line
    text = "id: x\n" + line * 1100
    _, diagnostics = parse_flow(text, "f.yml")
    assert [(d.code, d.line) for d in diagnostics] == [("file-too-large", 1 + 1024)]
    assert diagnostics[0].message.startswith(f"the file is {len(text):,} bytes, over the 1,048,576")


def test_limits_are_a_parameter() -> None:
    small = YamlLimits(max_bytes=100, max_depth=3, max_alias_nodes=3, max_nodes=50)
    assert codes("a: [[[1]]]\n", small) == [("nesting-too-deep", 1, 6)]
    assert codes("a: &a [1, 2]\nb: [*a, *a]\n", small) == [("alias-expansion", 2, 9)]
    assert codes("a: " + "1" * 200 + "\n", small) == [("file-too-large", 1, 101)]


def test_validate_and_the_catalog_refuse_a_huge_file_without_parsing_it(tmp_path: Path) -> None:
    flows = tmp_path / ".flows"
    flows.mkdir()
    huge = flows / "huge.yml"
    huge.write_text("id: huge\nnamespace: demo\n" + "# padding\n" * 2_000_000)
    count, diagnostics = validate_paths([flows])
    assert count == 1
    assert [(d.file, d.code, d.line) for d in diagnostics] == [
        (str(huge), "file-too-large", 104_858)]
    assert "20,000,025 bytes" in diagnostics[0].message
    told: list[str] = []
    catalog = DirectoryFlows(flows, on_invalid=lambda path, found: told.extend(
        d.code for d in found))
    assert catalog.all() == {} and told == ["file-too-large"]
    with pytest.raises(InvalidFlowError, match="file-too-large"):
        load_flow(huge)


# -- parsed once per blob --------------------------------------------------------------
def test_the_same_blob_is_parsed_once() -> None:
    text = f"id: cached\nnamespace: demo\ntasks:\n  - {{id: a, type: {LOG}, message: hi}}\n"
    first, _ = parse_flow(text, "c.yml")
    again, _ = parse_flow(text, "c.yml")
    elsewhere, _ = parse_flow(text, "d.yml")
    assert first is not None and again is first
    assert elsewhere is not first and elsewhere is not None
    assert elsewhere.position.file == "d.yml"


def test_cached_diagnostics_are_a_fresh_list_each_time() -> None:
    _, found = parse_flow(bomb(), "b.yml")
    found.clear()
    assert len(parse_flow(bomb(), "b.yml")[1]) == 1


def test_blob_id_is_git_s(tmp_path: Path) -> None:
    data = "id: x\nnamespace: é\n".encode()
    (tmp_path / "f.yml").write_bytes(data)
    git = subprocess.run(["git", "hash-object", str(tmp_path / "f.yml")], capture_output=True,
                         text=True, check=True)
    assert blob_id(data) == git.stdout.strip()


def test_the_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = ParseCache(entries=2, size=100)
    for name in "abc":
        cache.put((name,), 10, (None, ()))
    assert cache.get(("a",)) is None and cache.get(("b",)) is not None and len(cache) == 2
    cache.put(("big",), 95, (None, ()))
    assert len(cache) == 1 and cache.get(("big",)) is not None
    cache.put(("huge",), 101, (None, ()))  # more than the whole budget: never kept
    assert cache.get(("huge",)) is None
    assert len(PARSED) <= PARSED.entries


# -- properties -------------------------------------------------------------------------
SMALL = YamlLimits(max_bytes=64 * 1024, max_depth=8, max_alias_nodes=300, max_nodes=600)
Item = int | str  # a scalar, or the index of an earlier anchor


@st.composite
def anchored(draw: st.DrawFn) -> list[list[Item]]:
    """Anchors a0..an, each a list of scalars and aliases of earlier anchors."""
    anchors: list[list[Item]] = []
    for level in range(draw(st.integers(1, 10))):
        choices = st.sampled_from([f"*a{j}" for j in range(level)]) if level else st.nothing()
        anchors.append(draw(st.lists(st.integers(0, 9) | choices, min_size=0, max_size=12)))
    return anchors


def expand(anchors: list[list[Item]]) -> tuple[dict[str, Any], int, int, int]:
    """(data, alias-expanded nodes, all nodes, depth) as an independent count."""
    value: list[Any] = []
    size: list[int] = []
    depth: list[int] = []
    aliased = 0
    for items in anchors:
        out: list[Any] = []
        for item in items:
            out.append(value[int(item[2:])] if isinstance(item, str) else item)
        value.append(out)
        subs = [size[int(i[2:])] if isinstance(i, str) else 1 for i in items]
        aliased += sum(s for i, s in zip(items, subs, strict=True) if isinstance(i, str))
        size.append(1 + sum(subs))
        depth.append(1 + max([depth[int(i[2:])] for i in items if isinstance(i, str)] or [0]))
    data = {f"a{n}": v for n, v in enumerate(value)}
    return data, aliased, 1 + len(anchors) + sum(size), 1 + max(depth)


def as_yaml(anchors: list[list[Item]]) -> str:
    return "".join(f"a{n}: &a{n} [{', '.join(map(str, items))}]\n"
                   for n, items in enumerate(anchors))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anchored())
def test_anchor_documents_load_exactly_or_fail_with_the_limit_crossed(
        anchors: list[list[Item]]) -> None:
    data, aliased, nodes, depth = expand(anchors)
    crossed = {code for code, over in [("alias-expansion", aliased > SMALL.max_alias_nodes),
                                       ("too-many-nodes", nodes > SMALL.max_nodes),
                                       ("nesting-too-deep", depth > SMALL.max_depth)] if over}
    tracemalloc.start()
    try:
        loaded = load(as_yaml(anchors), "f.yml", SMALL)
    except YamlSyntaxError as err:
        assert [d.code for d in err.diagnostics] in [[code] for code in crossed]
    else:
        assert not crossed and loaded.data == data
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 40), st.integers(2, 40))
def test_any_bomb_stays_within_budget_with_the_default_limits(levels: int, fan: int) -> None:
    tracemalloc.start()
    try:
        _, diagnostics = parse_flow(bomb(levels, fan), "f.yml")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert fan ** levels <= LIMITS.max_alias_nodes or \
        [d.code for d in diagnostics if d.code.startswith(("alias", "too-many"))] != []
    assert peak < 64 * 1024 * 1024


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["[", "{k: "]), min_size=1, max_size=20))
def test_nesting_loads_or_fails_at_the_limit(openers: list[str]) -> None:
    closers = "".join("]" if o == "[" else "}" for o in reversed(openers))
    text = "v: " + "".join(openers) + "1" + closers + "\n"
    try:
        load(text, "f.yml", SMALL)
    except YamlSyntaxError as err:
        assert len(openers) + 1 > SMALL.max_depth  # the root mapping is a level too
        column = 4 + sum(len(o) for o in openers[: SMALL.max_depth - 1])
        assert [(d.code, d.line, d.column) for d in err.diagnostics] == [
            ("nesting-too-deep", 1, column)]
    else:
        assert len(openers) + 1 <= SMALL.max_depth
