"""Re-running an execution from one of its top-level tasks: which outputs are reused.

The tasks before the chosen one that succeeded in the earlier run are not run again;
their outputs (and those of their subtasks) are handed to Engine.prepare(reuse=…). The
earlier run is either a live Execution (reuse_from) or its recorded run.json
(reuse_from_record, runner/history/recorder.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.engine.execution import Execution
from runner.errors import UsageError
from runner.events import State
from runner.model import Flow

_ENDED = {str(s) for s in State if s.terminal}


def reuse_from(execution: Execution, from_task: str) -> dict[str, Any]:
    """outputs.<task> of the top-level tasks before from_task that ended SUCCESS, with the
    outputs of their subtasks; UsageError when from_task is not a top-level task."""
    ended = {run.task_id: str(run.state.current) for run in execution.task_runs
             if run.parent_task_run_id is None}
    return _reuse(execution.flow, from_task, ended, execution.task_outputs)


def reuse_from_record(flow: Flow, detail: Mapping[str, Any], from_task: str) -> dict[str, Any]:
    """reuse_from for a run known from its recorded run.json (`tasks`: task runs with their
    task id, loop value, `parent` task run, state and outputs). Task ids are unique in a
    flow, so a top-level task's runs are told by its id even in a run.json without `parent`."""
    runs = [t for t in detail.get("tasks") or [] if isinstance(t, Mapping)]
    top = {task.id for task in flow.tasks}
    ended = {str(t.get("task")): str(t.get("state")) for t in runs if t.get("task") in top}
    return _reuse(flow, from_task, ended, _task_outputs(runs))


def _reuse(flow: Flow, from_task: str, ended: Mapping[str, str],
           task_outputs: Mapping[str, Any]) -> dict[str, Any]:
    ids = [task.id for task in flow.tasks]
    if from_task not in ids:
        raise UsageError(f"fromTask '{from_task}' is not a top-level task of "
                         f"{flow.qualified_id} (its tasks: {', '.join(ids) or 'none'})")
    reuse: dict[str, Any] = {}
    for task in flow.tasks[:ids.index(from_task)]:
        if ended.get(task.id) != State.SUCCESS:
            continue  # failed, skipped or never reached: it runs again
        for below in task.walk():
            if below.id in task_outputs:
                reuse[below.id] = task_outputs[below.id]
        reuse.setdefault(task.id, {})
    return reuse


def _task_outputs(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's `outputs.<task>` from its task runs: inside loops `outputs.<task>[value]…`
    (RunState.store_outputs). A task run's loop values are its parent's plus its own value
    when that differs from the parent's (a loop gave it one; a recorded run cannot tell a
    nested loop's value equal to the enclosing one's)."""
    by_id = {str(t.get("id")): t for t in runs}
    memo: dict[str, tuple[str, ...]] = {}

    def values(run: Mapping[str, Any], depth: int = 0) -> tuple[str, ...]:
        key = str(run.get("id"))
        if key not in memo:
            parent = by_id.get(str(run.get("parent")))
            above = values(parent, depth + 1) if parent is not None and depth < 50 else ()
            value = run.get("value")
            if "parent" not in run:  # older run.json: one loop level at most
                memo[key] = (str(value),) if value is not None else ()
            elif value is not None and (parent is None or value != parent.get("value")):
                memo[key] = (*above, str(value))
            else:
                memo[key] = above
        return memo[key]

    found: dict[str, Any] = {}
    for run in runs:
        outputs = run.get("outputs") or {}
        if run.get("state") not in _ENDED or not isinstance(outputs, Mapping):
            continue
        path, task = values(run), str(run.get("task"))
        if not path:
            found[task] = dict(outputs)
            continue
        node = found.setdefault(task, {})
        for value in path[:-1]:
            node = node.setdefault(value, {})
        node[path[-1]] = dict(outputs)
    return found
