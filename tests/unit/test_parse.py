"""YAML → model: what the frozen model keeps, and properties that hold for any input."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.durations import DURATION_PATTERN, format_duration, parse_duration
from runner.errors import InvalidFlowError
from runner.language.parse import load_flow, parse_flow
from runner.model import Task

LOG = "io.kestra.plugin.core.log.Log"
RETURN = "io.kestra.plugin.core.debug.Return"
SEQUENTIAL = "io.kestra.plugin.core.flow.Sequential"
PARALLEL = "io.kestra.plugin.core.flow.Parallel"
IF = "io.kestra.plugin.core.flow.If"
VALID = """\
id: hello-world
namespace: company.team
description: a flow
labels:
  env: dev
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.who }}"
    timeout: PT1M
    retry:
      type: constant
      maxAttempts: 3
      interval: PT2S
  - id: branch
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: inner
        type: io.kestra.plugin.core.debug.Return
        format: x
errors:
  - id: oops
    type: io.kestra.plugin.core.log.Log
    message: failed
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""


def test_model_keeps_what_the_yaml_says() -> None:
    flow, diagnostics = parse_flow(VALID, "hello.yml")
    assert diagnostics == [] and flow is not None
    assert (flow.id, flow.namespace, flow.qualified_id) == ("hello-world", "company.team",
                                                             "company.team.hello-world")
    assert flow.labels == {"env": "dev"}
    assert flow.inputs[0].id == "who" and flow.inputs[0].defaults == "world"
    hello, branch = flow.tasks
    assert hello.props == {"message": "Hello {{ inputs.who }}"}
    assert hello.timeout == dt.timedelta(minutes=1)
    assert hello.retry is not None and hello.retry.interval == dt.timedelta(seconds=2)
    assert (hello.position.file, hello.position.line, hello.position.column) == ("hello.yml", 11, 5)
    assert [t.id for t in branch.subtasks["then"]] == ["inner"]
    assert [t.id for t in flow.all_tasks()] == ["hello", "branch", "inner", "oops"]
    assert flow.triggers[0].props["cron"] == "0 3 * * *"


def test_switch_cases_and_dag_shape_the_model() -> None:
    text = textwrap.dedent(f"""\
        id: f
        namespace: n
        tasks:
          - id: sw
            type: io.kestra.plugin.core.flow.Switch
            value: "{{{{ vars.x }}}}"
            cases:
              A:
                - {{id: a1, type: {LOG}, message: a}}
            defaults:
              - {{id: d1, type: {LOG}, message: d}}
          - id: dag
            type: io.kestra.plugin.core.flow.Dag
            tasks:
              - task: {{id: t1, type: {LOG}, message: x}}
              - task: {{id: t2, type: {LOG}, message: x}}
                dependsOn: [t1]
        concurrency:
          limit: 1
          behavior: CANCEL
        pluginDefaults:
          - type: io.kestra.plugin.core.log
            values: {{level: WARN}}
            forced: true
        """)
    flow, diagnostics = parse_flow(text, "f.yml")
    assert diagnostics == [] and flow is not None
    switch, dag = flow.tasks
    assert set(switch.subtasks) == {"cases.A", "defaults"}
    assert "cases" not in switch.props
    assert [t.id for t in dag.subtasks["tasks"]] == ["t1", "t2"]
    assert dag.props["dependsOn"] == {"t1": [], "t2": ["t1"]}
    assert flow.concurrency is not None and flow.concurrency.behavior == "CANCEL"
    assert flow.plugin_defaults[0].forced is True


def test_load_flow_raises_with_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("id: a\n", encoding="utf-8")
    with pytest.raises(InvalidFlowError) as err:
        load_flow(path)
    assert err.value.diagnostics[0].file == str(path)
    with pytest.raises(InvalidFlowError):
        load_flow(tmp_path / "missing.yml")


# --- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("PT30S", dt.timedelta(seconds=30)), ("PT1H30M", dt.timedelta(minutes=90)),
    ("P1D", dt.timedelta(days=1)), ("PT0.5S", dt.timedelta(milliseconds=500)),
    ("P1W", dt.timedelta(weeks=1)), ("pt5m", dt.timedelta(minutes=5)), ("PT1,5S", dt.timedelta(seconds=1.5)),
])
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "5m", "PT5", "P1H", "PT-5S", "1 hour", "", "P9999999999D"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(dt.timedelta(0)) == "PT0S"
    assert format_duration(dt.timedelta(seconds=90)) == "PT90S"
    assert format_duration(dt.timedelta(milliseconds=250)) == "PT0.25S"


_parts = st.fixed_dictionaries({}, optional={
    "weeks": st.integers(0, 500), "days": st.integers(0, 1000), "hours": st.integers(0, 100),
    "minutes": st.integers(0, 1000), "seconds": st.integers(0, 100_000), "millis": st.integers(0, 999)})


@settings(max_examples=200, deadline=None)
@given(_parts)
def test_duration_round_trip(parts: dict[str, int]) -> None:
    date = "".join(f"{parts[k]}{k[0].upper()}" for k in ("weeks", "days") if k in parts)
    clock = "".join(f"{parts[k]}{k[0].upper()}" for k in ("hours", "minutes") if k in parts)
    if "seconds" in parts or "millis" in parts:
        clock += f"{parts.get('seconds', 0)}.{parts.get('millis', 0):03d}S"
    text = f"P{date}" + (f"T{clock}" if clock else "")
    if text == "P":
        text = "PT0S"
    expected = dt.timedelta(weeks=parts.get("weeks", 0), days=parts.get("days", 0),
                            hours=parts.get("hours", 0), minutes=parts.get("minutes", 0),
                            seconds=parts.get("seconds", 0), milliseconds=parts.get("millis", 0))
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@settings(max_examples=200, deadline=None)
@given(st.from_regex(DURATION_PATTERN, fullmatch=True))
def test_everything_the_pattern_accepts_parses_or_says_why(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError as err:
        assert "too long" in str(err)
    else:
        assert value >= dt.timedelta(0)


# --- properties of parse_flow on any input -----------------------------------------------------

def check_positions(text: str) -> None:
    _, diagnostics = parse_flow(text, "f.yml")
    lines = len(text.splitlines())
    for d in diagnostics:
        assert d.code != "internal-error", d.message
        assert 1 <= d.line <= lines + 1, (d, lines)
        assert d.column >= 1
    assert diagnostics == sorted(diagnostics)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_parse_flow_never_raises_on_any_text(text: str) -> None:
    check_positions(text)


_YAMLISH = st.sampled_from([*" \n-:#'\"{}[]|>&*!%@`,?\t", "  ", "- ", ": ", "\n  ", "---\n"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID)), st.booleans(), _YAMLISH | st.characters()),
                max_size=6))
def test_parse_flow_never_raises_on_mutated_yaml(edits: list[tuple[int, bool, str]]) -> None:
    text = VALID
    for where, delete, char in edits:
        where = min(where, len(text))
        text = text[:where] + text[where + 1:] if delete else text[:where] + char + text[where:]
    check_positions(text)


# --- generated valid flows ---------------------------------------------------------------------

FLOW_IDS = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}\Z")
NAMESPACES = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,8}(\.[a-z0-9][a-z0-9_-]{0,8}){0,3}\Z")
TASK_IDS = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9_-]{0,20}\Z")
# plain text: `{{`, `{%` and `{#` would start an expression (checked by validate)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30).filter(
    lambda t: not any(marker in t for marker in ("{{", "{%", "{#")))


@st.composite
def task_trees(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kinds = ["log", "return"] + (["sequential", "parallel", "if"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "log":
        return {"type": LOG, "message": draw(TEXT | st.lists(TEXT, min_size=1, max_size=3))}
    if kind == "return":
        return {"type": RETURN, "format": draw(TEXT)}
    children = st.lists(task_trees(depth + 1), min_size=1, max_size=3)
    if kind == "if":
        node = {"type": IF, "condition": draw(TEXT | st.booleans()), "then": draw(children)}
        if draw(st.booleans()):
            node["else"] = draw(children)
        return node
    return {"type": SEQUENTIAL if kind == "sequential" else PARALLEL, "tasks": draw(children)}


def emit(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML, every scalar double-quoted (JSON strings are YAML strings)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines += [f"{pad}{key}:", *emit(item, indent + 2)]
            else:
                lines.append(f"{pad}{key}: {json.dumps(item)}")
        return lines
    lines = []
    for item in value:
        nested = emit(item, indent + 2) if isinstance(item, dict | list) else [f"{pad}  {json.dumps(item)}"]
        lines.append(f"{pad}- {nested[0].lstrip()}")
        lines += nested[1:]
    return lines


SLOTS = ("tasks", "then", "else")


def assign_ids(tasks: list[dict[str, Any]], ids: Any) -> None:
    for task in tasks:
        task["id"] = next(ids)
        for slot in SLOTS:
            if slot in task:
                assign_ids(task[slot], ids)


def count(tasks: list[dict[str, Any]]) -> int:
    return sum(1 + sum(count(t[s]) for s in SLOTS if s in t) for t in tasks)


def same(model: tuple[Task, ...], spec: list[dict[str, Any]]) -> None:
    assert [t.id for t in model] == [t["id"] for t in spec]
    for task, raw in zip(model, spec, strict=True):
        assert task.type == raw["type"]
        for slot in SLOTS:
            if slot in raw:
                same(task.subtasks[slot], raw[slot])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FLOW_IDS, NAMESPACES, st.lists(task_trees(), min_size=1, max_size=4), st.data())
def test_generated_valid_flows_parse_and_keep_ids_and_order(
        flow_id: str, namespace: str, tasks: list[dict[str, Any]], data: st.DataObject) -> None:
    ids = data.draw(st.lists(TASK_IDS, min_size=count(tasks), max_size=count(tasks), unique=True))
    assign_ids(tasks, iter(ids))
    body: dict[str, Any] = {"id": flow_id, "namespace": namespace, "tasks": [
        {"id": t.pop("id"), **t} for t in tasks]}  # id first, as people write it
    text = "\n".join(emit(body)) + "\n"
    flow, diagnostics = parse_flow(text, "gen.yml")
    assert [d for d in diagnostics if d.is_error] == [], text
    assert flow is not None
    assert (flow.id, flow.namespace) == (flow_id, namespace)
    same(flow.tasks, body["tasks"])
    assert len(list(flow.all_tasks())) == len(ids)
