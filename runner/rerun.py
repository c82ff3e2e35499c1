"""Re-running an execution from one of its top-level tasks: which outputs are reused.

The tasks before the chosen one that succeeded in the earlier run are not run again;
their outputs (and those of their subtasks) are handed to Engine.prepare(reuse=…).
"""

from __future__ import annotations

from typing import Any

from runner.errors import UsageError
from runner.events import State
from runner.execution import Execution


def reuse_from(execution: Execution, from_task: str) -> dict[str, Any]:
    """outputs.<task> of the top-level tasks before from_task that ended SUCCESS, with the
    outputs of their subtasks; UsageError when from_task is not a top-level task."""
    tasks = execution.flow.tasks
    ids = [task.id for task in tasks]
    if from_task not in ids:
        raise UsageError(f"fromTask '{from_task}' is not a top-level task of "
                         f"{execution.flow.qualified_id} (its tasks: {', '.join(ids) or 'none'})")
    ended = {run.task_id: run.state.current for run in execution.task_runs
             if run.parent_task_run_id is None}
    reuse: dict[str, Any] = {}
    for task in tasks[:ids.index(from_task)]:
        if ended.get(task.id) is not State.SUCCESS:
            continue  # failed, skipped or never reached: it runs again
        for below in task.walk():
            if below.id in execution.task_outputs:
                reuse[below.id] = execution.task_outputs[below.id]
        reuse.setdefault(task.id, {})
    return reuse
