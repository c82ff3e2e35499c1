"""A task's timeout bounds the rendering of its properties, not only its process."""

from __future__ import annotations

from pathlib import Path

from tests.unit.engine_helpers import Harness, final

STAGE = "(" + ",".join(["."] * 10) + ")"
NESTED_JQ = "|".join([STAGE] * 7) + "|.a?"  # about a million jq steps


def test_a_task_timeout_stops_rendering_an_expensive_expression(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    execution = harness.run("""
        id: slow
        namespace: demo
        tasks:
          - id: burn
            type: io.kestra.plugin.core.debug.Return
            timeout: PT0.05S
            format: "{{ 1 | jq('""" + NESTED_JQ + """') }}"
        """)
    assert final(execution, "burn") == "FAILED"
    assert any("rendering took longer than" in line for line in harness.logs("burn")), \
        harness.logs("burn")
