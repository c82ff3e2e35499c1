"""POST /api/v1/executions/{id}/rerun: the flow again at the same commit with the same inputs
and labels; ?fromTask=T reuses the outputs of the top-level tasks before T that succeeded.

The execution is taken from this server's memory when it ran it since it started (one a
`flows worker` ran: from what the worker reported of it, task runs with outputs included),
otherwise from the repository's notes history: its run.json
keeps the inputs, labels and task outputs (runner/history/recorder.py). A recorded run
whose inputs had a secret masked, or that was recorded before inputs were kept, cannot be
re-run (409): start a new run instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.engine.rerun import reuse_from, reuse_from_record
from runner.errors import UsageError
from runner.events import State
from runner.secrets import has_mask
from webhooks.ingress.httpapi import Reply, error
from webhooks.runs.records import NotFoundError
from webhooks.runs.service import FlowService

_ENDED = {str(s) for s in State if s.terminal}


def rerun(service: FlowService, execution_id: str, from_task: str | None) -> Reply:
    try:
        record = service.registry.record(execution_id)
    except NotFoundError:
        return _rerun_recorded(service, execution_id, from_task)
    # a worker's run has ended once its reported view says so (its `end` may come later)
    shown = str(((record.view or {}).get("state") or {}).get("current")) if record.remote else ""
    if not (record.done.is_set() or record.execution.state.current.terminal or shown in _ENDED):
        return error(409, f"execution {execution_id} has not ended yet")
    execution = record.execution
    if record.remote:  # a `flows worker` ran it: what it reported (task runs, inputs, labels)
        view = record.view or execution.to_json()
        labels = {str(label.get("key")): str(label.get("value")) for label in view.get("labels") or []
                  if isinstance(label, dict)}
        detail = {"inputs": view.get("inputs") or dict(execution.inputs),
                  "labels": labels or dict(execution.labels),
                  "tasks": [_recorded_task(t) for t in view.get("taskRunList") or []
                            if isinstance(t, dict)]}
        return _start(service, record.repo, record.commit, execution.flow.qualified_id,
                      {**detail, "untrusted": record.engine.executors.untrusted},
                      execution_id, from_task)
    reuse = reuse_from(execution, from_task) if from_task else None
    started = service.runs.start(execution.flow.namespace, execution.flow.id, execution.inputs,
                                 repo=record.repo, ref=record.commit,
                                 trigger=_trigger(execution_id, from_task), labels=execution.labels,
                                 reuse=reuse, untrusted=record.engine.executors.untrusted)
    return Reply(200, service.registry.describe(started.id))


def _recorded_task(task: dict[str, Any]) -> dict[str, Any]:
    """A task run of the execution API → its shape in run.json (reuse_from_record)."""
    return {"id": task.get("id"), "task": task.get("taskId"), "value": task.get("value"),
            "parent": task.get("parentTaskRunId"),
            "state": (task.get("state") or {}).get("current"), "outputs": task.get("outputs") or {}}


def _trigger(original: str, from_task: str | None) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "rerun", "original": original}
    if from_task:
        trigger["fromTask"] = from_task
    return trigger


def _rerun_recorded(service: FlowService, execution_id: str, from_task: str | None) -> Reply:
    try:
        shown = service.history_views.run(execution_id)
    except NotFoundError:
        raise NotFoundError(f"execution {execution_id} is not known to this server and not "
                            "recorded in the history of a served repository") from None
    run, repo = str(shown["run"]), str(shown["repo"])
    if run != execution_id.upper():
        raise NotFoundError(f"execution {execution_id} not found (did you mean {run}?)")
    if shown.get("state") not in _ENDED:
        return error(409, f"execution {run} has not ended yet (state {shown.get('state')}; "
                          f"it runs on {shown.get('runner') or 'another process'})")
    detail = service.repos.history(repo).detail(run)
    if detail is None:
        return error(409, f"execution {run} has no run detail in {repo}'s history (its log was "
                          "pruned or not fetched): start a new run")
    if not isinstance(detail.get("inputs"), dict):
        return error(409, f"execution {run} was recorded before gitflows kept the inputs of a "
                          "run: start a new run")
    return _start(service, repo, str(shown["commit"]), str(shown["flow"]), detail, run, from_task)


def _start(service: FlowService, repo: str, commit: str, flow: str, detail: Mapping[str, Any],
           original: str, from_task: str | None) -> Reply:
    """A re-run of an execution known by its recorded detail (run.json's shape)."""
    inputs, labels = dict(detail.get("inputs") or {}), detail.get("labels") or {}
    masked = sorted(k for k, v in inputs.items() if has_mask(v))
    if masked:
        return error(409, f"execution {original} cannot be re-run from its history: input(s) "
                          f"{', '.join(masked)} held a secret, which the history keeps masked; "
                          "start a new run with the inputs given again", inputs=masked)
    if not isinstance(labels, Mapping):
        raise UsageError(f"execution {original}: its recorded labels are not an object")
    namespace, _, flow_id = flow.rpartition(".")
    reuse = None
    if from_task:
        target, _ = service.catalog.find(namespace, flow_id, repo, commit)
        assert target.flow is not None
        reuse = reuse_from_record(target.flow, detail, from_task)
    started = service.runs.start(namespace, flow_id, inputs, repo=repo, ref=commit,
                                 trigger=_trigger(original, from_task),
                                 labels={str(k): str(v) for k, v in labels.items()}, reuse=reuse,
                                 untrusted=detail.get("untrusted") is True)  # a fork's run stays so
    return Reply(200, service.registry.describe(started.id))
