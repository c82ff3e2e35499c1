"""`flows kestra-coverage`: every Kestra core type with its status, and the README's table is
exactly its output (so it cannot drift from the registry)."""

from __future__ import annotations

import json
import re

from runner.language.kestra_coverage import NOT, RUNS, VALIDATED, core_types, coverage, markdown
from runner.tasks import default_registry
from runner.tasks.registry import Registry
from tests.conftest import REPO_ROOT, run_cli
from tests.unit.engine_helpers import Harness

TABLE = re.compile(r"<!-- kestra-coverage:start -->\n(.*?)<!-- kestra-coverage:end -->", re.S)


def test_readme_table_is_the_generated_one() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    found = TABLE.search(readme)
    assert found, "README.md has no kestra-coverage section"
    assert found.group(1) == markdown(coverage(default_registry())), (
        "the README's Kestra core types table is stale: replace it with `flows kestra-coverage`")


def test_every_core_type_has_a_status_and_reasons_are_given() -> None:
    rows = coverage(default_registry())
    assert [r.name for r in rows] == [name for name, _ in core_types()]
    assert {r.status for r in rows} == {RUNS, VALIDATED, NOT}
    for row in rows:
        assert row.status == RUNS or row.why, f"{row.name}: {row.status} without a reason"
    by_name = {r.name.removeprefix("io.kestra.plugin.core."): r for r in rows}
    assert by_name["flow.EachSequential"].status == RUNS
    assert "io.kestra.core.tasks.flows.EachSequential" in by_name["flow.EachSequential"].legacy
    assert by_name["execution.Count"].status == VALIDATED
    assert by_name["namespace.PurgeFiles"].status == NOT
    assert "commit" in by_name["namespace.PurgeFiles"].why


def test_a_registered_type_moves_the_row() -> None:
    # the table follows the registry: drop a type and it becomes "not supported"
    registry = Registry([t for t in default_registry() if not t.name.endswith("storage.Size")])
    row = next(r for r in coverage(registry) if r.name.endswith("storage.Size"))
    assert (row.status, row.why) == (NOT, "not implemented yet")


def test_command_prints_json_rows() -> None:
    result = run_cli("kestra-coverage", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {"name", "kind", "status", "why", "legacy"} <= set(rows[0])
    assert len(rows) == len(core_types())


def test_assert_doc_example(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/execution/io.kestra.plugin.core.execution.assert
    text = """
        id: assert
        namespace: company.team
        inputs:
          - id: param
            type: STRING
        tasks:
          - id: fail
            type: io.kestra.plugin.core.execution.Assert
            errorMessage: "Invalid param {{ inputs.param }}"
            conditions:
              - "{{ inputs.param == 'ok' }}"
              - "{{ 1 + 1 == 2 }}"
    """
    assert str(h.run(text, {"param": "ok"}).state.current) == "SUCCESS"
    assert str(h.run(text, {"param": "ko"}).state.current) == "FAILED"
    assert h.logs("fail") == ["Assertion `{{ inputs.param == 'ok' }}` failed!", "Invalid param ko"]
