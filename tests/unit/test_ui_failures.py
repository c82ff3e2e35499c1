"""The dashboard's failed task and error line (webhooks/ui/failures.py) from a run.json and a
recorded log, as the recorder writes them."""

from __future__ import annotations

from typing import Any

from webhooks.ui.failures import MESSAGE_CHARS, failed_tasks, first_error


def _run(run_id: str, task: str, *states: str, parent: str | None = None) -> dict[str, Any]:
    changes = [{"state": s, "t": f"2026-01-01T00:00:0{i}Z", "attempt": 1} for i, s in enumerate(states)]
    return {"id": run_id, "task": task, "parent": parent, "states": changes}


def test_the_child_that_failed_is_shown_not_the_group_it_failed() -> None:
    tasks = [_run("r1", "both", "CREATED", "RUNNING", "FAILED"),
             _run("r2", "fine", "CREATED", "SUCCESS", parent="r1"),
             _run("r3", "boom", "CREATED", "RUNNING", "FAILED", parent="r1"),
             _run("r4", "later", "CREATED", "RUNNING", "KILLED")]
    assert failed_tasks(tasks) == ["boom", "later"]


def test_a_retried_task_that_succeeded_and_a_repeated_loop_child_are_shown_once() -> None:
    tasks = [_run("r1", "flaky", "RUNNING", "FAILED", "RUNNING", "SUCCESS"),
             _run("r2", "say", "RUNNING", "FAILED"), _run("r3", "say", "RUNNING", "FAILED"),
             "not a task run", {"task": "empty"}]
    assert failed_tasks(tasks) == ["say"]


def test_the_first_error_of_a_failed_task_else_of_the_run() -> None:
    log = ("2026-01-01T00:00:00.100Z hello INFO hi\n"
           "2026-01-01T00:00:00.200Z other ERROR not this one\n"
           "2026-01-01T00:00:00.300Z boom ERROR the disk is full\n"
           "and its second line\n"
           "2026-01-01T00:00:00.400Z boom ERROR later\n")
    assert first_error(log, ["boom"]) == "the disk is full\nand its second line"
    assert first_error(log, ["absent"]) == "not this one"
    assert first_error("2026-01-01T00:00:00.100Z hello INFO hi\n", ["hello"]) is None
    assert first_error(None, []) is None
    huge = f"2026-01-01T00:00:00.300Z boom ERROR {'x' * 5000}\n"
    assert first_error(huge, ["boom"]) == "x" * MESSAGE_CHARS
