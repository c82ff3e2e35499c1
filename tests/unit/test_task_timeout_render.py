"""A task's timeout bounds the rendering of its properties, not only its process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.engine_helpers import Harness, final

STAGE = "(" + ",".join(["."] * 10) + ")"
NESTED_JQ = "|".join([STAGE] * 7) + "|.a?"  # about a million jq steps


def _burn(tmp_path: Path) -> list[str]:
    """Run a task whose one expression outlasts its 50 ms timeout; its log lines."""
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
    return list(harness.logs("burn"))


def test_a_task_timeout_stops_rendering_an_expensive_expression(tmp_path: Path) -> None:
    logs = _burn(tmp_path)
    assert any("rendering took longer than" in line for line in logs), logs


class _LateTimer:
    """A timer thread that has not had the CPU yet (a busy machine): it never fires here."""

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        self.daemon = False

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass


def test_a_task_that_meets_its_own_deadline_is_reported_as_timed_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # e.g. a SQL client whose socket timeout is the task's remaining time: it gives up at the
    # deadline, before the engine's timer thread runs; the user still reads why it failed
    monkeypatch.setattr("runner.engine.run.threading.Timer", _LateTimer)
    logs = _burn(tmp_path)
    assert any("rendering took longer than" in line for line in logs), logs
    assert any("timed out after PT0.05S" in line for line in logs), logs
