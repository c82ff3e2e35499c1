"""The dashboard's latest failures, from the notes history (so they outlive a restart): the
newest FAILED or KILLED runs of every served repository, each with the task that failed and
the first error it logged (masked as recorded, cut to MESSAGE_CHARS)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runner.history.index import RunSearch
from runner.history.notes import NotesStore
from runner.history.records import RunSummary
from webhooks.ingress import httpapi
from webhooks.ingress.httpapi import Call, Reply, Route
from webhooks.runs.recorded import log_lines
from webhooks.runs.service import FlowService

SHOWN = 8
MAX_SHOWN = 50
MESSAGE_CHARS = 300
_ENDED_BADLY = ("FAILED", "KILLED")


def routes(service: FlowService) -> list[Route]:
    def answer(call: Call) -> Reply:
        limit = httpapi.integer(dict(call.args), "limit", SHOWN, high=MAX_SHOWN)
        return Reply(200, {"results": latest(service, limit)})

    return [Route("GET", "/api/v1/dashboard/failures", "dashboard_failures", answer)]


def latest(service: FlowService, limit: int = SHOWN) -> list[dict[str, Any]]:
    """The newest `limit` runs that failed or were killed, newest first."""
    found: list[tuple[str, RunSummary]] = []
    for name in service.repos:
        store = service.repos.history(name)
        for state in _ENDED_BADLY:
            found += [(name, s) for s in store.search(RunSearch(state=state, limit=limit))]
    found.sort(key=lambda pair: pair[1].run, reverse=True)  # ULIDs: newest first
    return [_failure(service.repos.history(name), name, summary) for name, summary in found[:limit]]


def _failure(store: NotesStore, repo: str, summary: RunSummary) -> dict[str, Any]:
    detail = store.detail(summary.run) or {}
    tasks = failed_tasks(detail.get("tasks") or [])
    return {
        "id": summary.run, "flow": summary.flow, "state": summary.state, "repo": repo,
        "commit": summary.commit, "ref": summary.ref, "startDate": summary.started,
        "dur_ms": summary.dur_ms, "failedTasks": tasks,
        "message": first_error(store.logs(summary.run), tasks),
    }


def failed_tasks(tasks: Iterable[Any]) -> list[str]:
    """The ids of the task runs (of run.json) that ended FAILED or KILLED and hold no failed
    task run of their own: a Parallel fails because a child did; the child is the one to show."""
    runs = [t for t in tasks if isinstance(t, Mapping)]
    bad = [t for t in runs if _last_state(t) in _ENDED_BADLY]
    parents = {t.get("parent") for t in bad}
    shown: list[str] = []
    for task in bad:
        if task.get("id") not in parents and str(task.get("task")) not in shown:
            shown.append(str(task.get("task")))
    return shown


def _last_state(task: Mapping[str, Any]) -> str | None:
    states = [s for s in task.get("states") or [] if isinstance(s, Mapping)]
    return str(states[-1].get("state")) if states else None


def first_error(log_text: str | None, tasks: list[str]) -> str | None:
    """The first ERROR line of a failed task (or of the run when none of theirs has one)."""
    errors = [line for line in log_lines(log_text) if line["level"] == "ERROR"]
    ours = [line for line in errors if line["taskId"] in tasks]
    chosen = ours or errors
    return str(chosen[0]["message"])[:MESSAGE_CHARS] if chosen else None
