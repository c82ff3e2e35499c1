"""`flows validate` and `flows schema` end to end, and the checks that span files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from runner.language.validate import validate_paths
from runner.tasks import Registry, TypeDef, default_registry
from tests.conftest import run_cli
from tests.unit.schema_expected import expected_schema

GARBLED = """\
id: python-script-example
namespace:examples

triggers:
-id:daily-trigger
    type:io.kestra.core.models.triggers.types.Schedule
    cron:"0 3 * * *"# every day at 3am
"""
REPAIRED = """\
id: python-script-example
namespace: examples

tasks:
  - id: hello
    type: io.kestra.plugin.scripts.python.Script
    script: print("hello")

triggers:
  - id: daily-trigger
    type: io.kestra.core.models.triggers.types.Schedule
    cron: "0 3 * * *" # every day at 3am
"""
HUMAN = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning) (?P<code>[a-z-]+): .+$")


def subflow(flow_id: str, calls: str, task: str = "call", namespace: str = "company.team") -> str:
    return (f"id: {flow_id}\nnamespace: company.team\ntasks:\n  - id: {task}\n"
            f"    type: io.kestra.plugin.core.flow.Subflow\n    namespace: {namespace}\n"
            f"    flowId: {calls}\n")


def test_garbled_flow_exits_1_with_precise_lines(write_flow: Callable[..., Path]) -> None:
    path = write_flow(GARBLED)
    result = run_cli("validate", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    parsed = [HUMAN.match(line) for line in lines]
    assert all(parsed), lines
    assert [(int(m["line"]), int(m["col"])) for m in parsed if m] == [
        (2, 1), (5, 1), (5, 2), (6, 5), (7, 5), (7, 21)]
    assert all(m["file"] == str(path) and m["sev"] == "error" for m in parsed if m)
    assert "Traceback" not in result.stderr
    assert "6 error(s)" in result.stderr


def test_repaired_flow_exits_0_with_one_deprecation_warning(write_flow: Callable[..., Path]) -> None:
    path = write_flow(REPAIRED)
    result = run_cli("validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{path}:11:11: warning deprecated-type: 'io.kestra.core.models.triggers.types.Schedule' is a "
        "legacy name; use 'io.kestra.plugin.core.trigger.Schedule'"]


def test_json_format(write_flow: Callable[..., Path]) -> None:
    path = write_flow(GARBLED)
    result = run_cli("validate", "--format", "json", str(path))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert isinstance(report, list) and len(report) == 6
    for item in report:
        assert set(item) == {"file", "line", "column", "severity", "code", "message"}
        assert isinstance(item["line"], int) and isinstance(item["column"], int)
        assert item["severity"] == "error" and item["file"] == str(path)
    assert [(d["line"], d["column"]) for d in report] == sorted((d["line"], d["column"]) for d in report)


def test_directory_of_flows_and_exit_codes(write_flow: Callable[..., Path], tmp_path: Path) -> None:
    write_flow(REPAIRED, ".flows/a.yml")
    write_flow(REPAIRED.replace("python-script-example", "other"), ".flows/sub/b.yaml")
    write_flow("not a flow", ".flows/notes.txt")
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 0
    assert "2 flow file(s) checked, 0 error(s), 2 warning(s)" in result.stderr
    write_flow("", ".flows/empty.yml")
    result = run_cli("validate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert [d["code"] for d in json.loads(result.stdout) if d["severity"] == "error"] == ["empty-file"]


def test_unknown_type_end_to_end(write_flow: Callable[..., Path]) -> None:
    path = write_flow("id: a\nnamespace: b\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Logg\n"
                      "    message: hi\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}:5:11: error unknown-type: ")
    assert "did you mean 'io.kestra.plugin.core.log.Log'?" in result.stdout


def test_schema_command_prints_the_checked_in_schema() -> None:
    result = run_cli("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == expected_schema(), \
        "schemas/flow.schema.json is stale: run `make schema`"


# --- checks across files -----------------------------------------------------------------------

def test_subflow_cycle_across_files(write_flow: Callable[..., Path], tmp_path: Path) -> None:
    write_flow(subflow("parent", "child"), "parent.yml")
    write_flow(subflow("child", "grand", task="down"), "child.yml")
    write_flow(subflow("grand", "parent", task="up"), "grand.yml")
    write_flow(subflow("outside", "parent", task="enter"), "outside.yml")  # calls in, not part of it
    _, diagnostics = validate_paths([tmp_path])
    cycles = [(Path(d.file).name, d.line, d.column) for d in diagnostics if d.code == "subflow-cycle"]
    assert cycles == [("child.yml", 4, 5), ("grand.yml", 4, 5), ("parent.yml", 4, 5)]
    parent = next(d for d in diagnostics if d.file.endswith("parent.yml"))
    assert "company.team.parent -> company.team.child -> company.team.grand -> company.team.parent" \
        in parent.message


def test_subflow_calling_itself(write_flow: Callable[..., Path]) -> None:
    path = write_flow(subflow("loop", "loop"))
    result = run_cli("validate", "--format", "json", str(path))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(d["code"], d["line"], d["column"]) for d in report] == [("subflow-cycle", 4, 5)]
    assert "calls itself" in report[0]["message"]


def test_no_cycle_for_other_namespaces_or_expressions(write_flow: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    write_flow(subflow("a", "b"), "a.yml")
    write_flow(subflow("b", "a", namespace="elsewhere"), "b.yml")
    write_flow(subflow("c", "'{{ vars.target }}'"), "c.yml")
    count, diagnostics = validate_paths([tmp_path])
    assert count == 3 and diagnostics == []


def test_subflow_cycle_with_a_custom_registry(write_flow: Callable[..., Path], tmp_path: Path) -> None:
    registry = Registry([
        *(t for t in default_registry() if t.name != "io.kestra.plugin.core.flow.Subflow"),
        TypeDef("io.kestra.plugin.core.flow.Subflow", "task", "call a flow",
                properties={"namespace": {"type": "string"}, "flowId": {"type": "string"}},
                required=("namespace", "flowId")),
    ])
    write_flow(subflow("x", "y"), "x.yml")
    write_flow(subflow("y", "x"), "y.yml")
    _, diagnostics = validate_paths([tmp_path], registry)
    assert [d.code for d in diagnostics] == ["subflow-cycle", "subflow-cycle"]


def test_duplicate_flow_definitions(write_flow: Callable[..., Path], tmp_path: Path) -> None:
    write_flow(REPAIRED, "one.yml")
    write_flow(REPAIRED, "two.yml")
    _, diagnostics = validate_paths([tmp_path])
    errors = [(Path(d.file).name, d.code, d.line) for d in diagnostics if d.is_error]
    assert errors == [("two.yml", "duplicate-flow", 1)]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.yml"
    path.write_bytes(b"\xff\xfe\x00bad")
    count, diagnostics = validate_paths([path])
    assert count == 1 and [d.code for d in diagnostics] == ["unreadable"]
