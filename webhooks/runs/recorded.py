"""A recorded run (notes history: its events, `run.json` detail and log text) in the shape of
the live execution API (`GET /api/v1/executions/{id}`), so that route answers a run this
server did not start, or ran before a restart, and the execution page shows it the same way:
task runs with attempts and outputs, the Gantt chart from the recorded task-run state times,
and the log lines. Here in webhooks/runs (not ui/) because the execution API answers with it.

Inputs (secrets shown as "******"), flow outputs, labels and the parent of a nested task
run come from run.json; a run recorded before they were kept leaves them empty, as it
leaves the task run a log line came from (only its task id and attempt are in the log text).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runner.durations import format_duration

_LOG_LINE = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+Z) (\S+) ([A-Z]+) (.*)")
_RUN_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a ULID (runner/ids.py), as every run is recorded
_TERMINAL = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED"}


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def state_history(changes: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """(state, time) pairs, oldest first → the API's `state` object."""
    histories = [{"state": state, "date": at} for state, at in changes]
    current = histories[-1]["state"] if histories else "CREATED"
    data: dict[str, Any] = {
        "current": current,
        "histories": histories,
        "startDate": histories[0]["date"] if histories else None,
    }
    if histories and current in _TERMINAL:
        data["endDate"] = histories[-1]["date"]
        data["duration"] = format_duration(_at(data["endDate"]) - _at(data["startDate"]))
    return data


def task_run(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task run of run.json (recorder.py: its state changes with the attempt number at each)
    → the API's task run: one attempt per number, as the engine counts them."""
    changes = [c for c in task.get("states") or [] if isinstance(c, Mapping)]
    attempts: dict[int, list[tuple[str, str]]] = {}
    for change in changes:
        number = int(change.get("attempt") or 0)
        if number >= 1 and change.get("state") not in ("CREATED", "RETRYING"):
            attempts.setdefault(number, []).append((str(change["state"]), str(change["t"])))
    return {
        "id": task.get("id"),
        "taskId": task.get("task"),
        "value": task.get("value"),
        "parentTaskRunId": task.get("parent"),  # absent from older run.json
        "state": state_history((str(c["state"]), str(c["t"])) for c in changes),
        "attempts": [{"state": state_history(attempts[n])} for n in sorted(attempts)],
        "outputs": task.get("outputs") or {},
    }


def _mapping(detail: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    value = (detail or {}).get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def log_lines(text: str | None) -> list[dict[str, Any]]:
    """The recorded log text (`<time> <task>[#attempt] LEVEL message` per line) → the API's
    log lines; a line that does not start so continues the message before it. A task's line
    without `#n` is attempt 1 (the text does not tell a log before the first attempt apart)."""
    lines: list[dict[str, Any]] = []
    for raw in text.removesuffix("\n").split("\n") if text else ():
        match = _LOG_LINE.fullmatch(raw)
        if match is None:
            if lines:
                lines[-1]["message"] += "\n" + raw
            else:
                lines.append(
                    {"taskId": None, "attemptNumber": 0, "level": "INFO", "message": raw, "timestamp": None}
                )
            continue
        at, who, level, message = match.groups()
        task, _, attempt = who.partition("#")
        lines.append(
            {
                "taskId": None if task == "-" else task,
                "attemptNumber": int(attempt) if attempt.isdigit() else (0 if task == "-" else 1),
                "level": level,
                "message": message,
                "timestamp": at,
            }
        )
    return lines


def is_run_id(text: str) -> bool:
    """Whether text can be a recorded run's whole id: anything else is not looked up."""
    return _RUN_ID.fullmatch(text) is not None


def is_over(state: str) -> bool:
    return state in _TERMINAL


def execution(
    shown: Mapping[str, Any], detail: Mapping[str, Any] | None, log_text: str | None,
    *, lines: bool = True,
) -> dict[str, Any]:
    """shown: `query.show_json` (+ repo) of the run; detail: its run.json, None when this
    clone has none (still running, pruned, or logs not fetched). lines=False leaves out
    `logs` (the execution API serves them apart, at /api/v1/logs/{id})."""
    namespace, _, flow_id = str(shown["flow"]).rpartition(".")
    states = [(str(s["state"]), str(s["t"])) for s in shown.get("states") or []]
    if detail and detail.get("states"):
        states = [(str(s["state"]), str(s["t"])) for s in detail["states"]]
    tasks = (detail or {}).get("tasks") or []
    labels = (detail or {}).get("labels")
    answer: dict[str, Any] = {
        "id": shown["run"],
        "namespace": namespace,
        "flowId": flow_id,
        "flowRevision": None,
        "state": state_history(states),
        "inputs": _mapping(detail, "inputs"),
        "outputs": _mapping(detail, "outputs"),
        "labels": [{"key": k, "value": v} for k, v in labels.items()] if isinstance(labels, Mapping) else [],
        "taskRunList": [task_run(t) for t in tasks if isinstance(t, Mapping)],
        "trigger": {
            "repo": shown.get("repo"),
            "commit": shown.get("commit"),
            "ref": shown.get("ref"),
            "type": shown.get("trigger"),
        },
        "recorded": {
            "runner": shown.get("runner"),
            "detail": detail is not None,
            "log": shown.get("log_info"),
            "hasLog": log_text is not None,
        },
    }
    if lines:
        answer["logs"] = log_lines(log_text)
    return answer
