"""What `flows history`, `flows show` and `flows logs` print: data first, text renderers after.

Intended CLI (click, in cli.py):

    flows history [--repo PATH] [--flow NS.ID] [--ref BRANCH] [--state STATE]
                  [--limit N] [--json]
        List recorded runs, newest first, with their latest state. History lives
        in the repository (git notes ref refs/notes/flows), so it travels with
        every clone; `git log --notes=flows` shows the raw events.
        --flow      only runs of this flow (namespace.id)
        --ref       only runs for this branch (main or refs/heads/main)
        --state     only runs whose latest state is STATE (e.g. FAILED)
        --limit     at most N runs (default 50)
        --json      a JSON list of {run, flow, state, commit, ref, trigger,
                    started, dur_ms}

    flows show [--repo PATH] RUN [--json]
        One run: its commit, trigger and runner, the timeline of its states,
        its task runs (state, attempts, duration, outputs). RUN may be a unique
        prefix of the run id.

    flows logs [--repo PATH] RUN
        The run's log text, as recorded when it ended (capped at 5 MiB).

Wiring: `store = NotesStore(repo, index=default_index_path(repo))`, then
`history(store, …)` → `format_history(rows)` or `json.dumps(history_json(rows))`;
`show(store, run)` → `format_show(detail)` or `show_json(detail)`;
`logs(store, run)`. Unknown runs raise UnknownRunError (exit code 2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from runner.history.records import HistoryError, HistoryEvent, RunFilter, RunSummary
from runner.history.store import Store


class UnknownRunError(HistoryError):
    """No recorded run matches (or a prefix matches several)."""


def history(store: Store, *, flow: str | None = None, ref: str | None = None,
            state: str | None = None, commit: str | None = None,
            limit: int | None = 50) -> list[RunSummary]:
    return store.runs(RunFilter(flow=flow, ref=ref, state=state, commit=commit, limit=limit))


def history_json(rows: list[RunSummary]) -> list[dict[str, Any]]:
    return [row.to_json() for row in rows]


def resolve_run(store: Store, run: str) -> RunSummary:
    """The run with this id or unique id prefix."""
    found = store.runs(RunFilter(run_prefix=run, limit=None))
    exact = [s for s in found if s.run == run.upper()]
    if exact:
        return exact[0]
    if not found:
        raise UnknownRunError(f"no recorded run {run!r}")
    if len(found) > 1:
        raise UnknownRunError(f"run prefix {run!r} is ambiguous: "
                              + ", ".join(s.run for s in found[:5]))
    return found[0]


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    events: tuple[HistoryEvent, ...]
    detail: dict[str, Any] | None  # task runs, states, outputs (recorder.py), when stored


def show(store: Store, run: str) -> RunDetail:
    summary = resolve_run(store, run)
    return RunDetail(summary, tuple(store.run(summary.run)), store.detail(summary.run))


def show_json(detail: RunDetail) -> dict[str, Any]:
    extra = detail.detail or {}
    return {**detail.summary.to_json(), "runner": detail.summary.runner,
            "log": detail.summary.log,
            "states": [{"state": e.state, "t": e.t, "seq": e.seq} for e in detail.events],
            "tasks": extra.get("tasks", []),
            "log_info": extra.get("log"),
            **{key: extra[key] for key in ("inputs", "labels", "outputs") if key in extra}}


def logs(store: Store, run: str) -> str:
    summary = resolve_run(store, run)
    text = store.logs(summary.run)
    if text is None:
        raise UnknownRunError(f"run {summary.run} has no log here (still running, or its log "
                              f"was not fetched or was pruned)")
    return text


# -- text ------------------------------------------------------------------------
def format_duration_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _short_time(t: str) -> str:
    return t.replace("T", " ")[:19] if t else "-"


def format_history(rows: list[RunSummary]) -> str:
    if not rows:
        return "no recorded runs\n"
    header = ("RUN", "FLOW", "STATE", "COMMIT", "REF", "TRIGGER", "STARTED (UTC)", "DURATION")
    table = [header] + [
        (r.run, r.flow, r.state, r.commit[:10], (r.ref or "-").removeprefix("refs/heads/"),
         r.trigger or "-", _short_time(r.started), format_duration_ms(r.dur_ms)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                   + "\n" for row in table)


def _ms_between(start: str, end: str) -> int | None:
    try:
        a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((b - a).total_seconds() * 1000)


def format_show(detail: RunDetail) -> str:
    s = detail.summary
    lines = [f"run      {s.run}", f"flow     {s.flow}", f"state    {s.state}",
             f"commit   {s.commit}" + ("  (dirty work tree)" if s.dirty else ""),
             f"ref      {s.ref or '-'}", f"trigger  {s.trigger or '-'}",
             f"runner   {s.runner or '-'}", f"started  {s.started}",
             f"duration {format_duration_ms(s.dur_ms)}", "", "states:"]
    first = detail.events[0].t if detail.events else ""
    for event in detail.events:
        offset = _ms_between(first, event.t)
        lines.append(f"  {event.t}  +{format_duration_ms(offset)}  {event.state}")
    tasks = (detail.detail or {}).get("tasks", [])
    if tasks:
        lines += ["", "tasks:"]
        for task in tasks:
            states = task.get("states", [])
            took = _ms_between(states[0]["t"], states[-1]["t"]) if len(states) > 1 else None
            name = task.get("task", "?") + (f"[{task['value']}]" if task.get("value") else "")
            attempts = task.get("attempts", 1)
            retry = f"  ({attempts} attempts)" if attempts and attempts > 1 else ""
            lines.append(f"  {name:<24} {task.get('state', '?'):<9} "
                         f"{format_duration_ms(took):>8}{retry}")
            for key, value in (task.get("outputs") or {}).items():
                lines.append(f"      {key} = {value!r}")
    info = (detail.detail or {}).get("log")
    if isinstance(info, dict):
        note = " (truncated)" if info.get("truncated") else ""
        lines += ["", f"log: {info.get('lines', 0)} lines, {info.get('bytes', 0)} bytes{note}"
                  f"  (flows logs {s.run})"]
    return "\n".join(lines) + "\n"
