"""What the UI's flows page and executions list show, flask-free.

- `Overview.flows()`: the served flows, each with its triggers (a Schedule's next fire time
  in its time zone) and its last runs from the notes history: one index query per
  repository (`NotesStore.latest_per_flow`), never one per flow. Parsed flows are kept per
  (repository, commit), which never changes, and each file by its blob id (runner.language.parse's
  LRU), so a new commit reparses only the files it changed.
- `search()`: executions newest first, merging the runs this process holds in memory with
  the recorded ones (which outlive a restart), de-duplicated by execution id. Execution ids
  are ULIDs, which sort by creation time, so `before=<id>` pages through both sources alike.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from runner.events import iso
from runner.history.index import RunSearch
from runner.history.records import RunSummary
from runner.model import Flow, Trigger
from runner.triggers.schedule import SCHEDULE, Schedule, next_tick
from webhooks.runs.service import FlowAtCommit, FlowService, Record

LAST_RUNS = 5
MAX_PAGE = 500


def within(namespace: str, wanted: str) -> bool:
    """Namespaces nest by dots: `demo` holds `demo.tools`, not `demolition`."""
    return namespace == wanted or namespace.startswith(wanted + ".")


def trigger_info(
    repo: str, flow: Flow, trigger: Trigger, now: dt.datetime, spec: Schedule | ValueError | None = None
) -> dict[str, Any]:
    """A trigger as the flows page lists it; a Schedule also says when it fires next.
    spec: the trigger's Schedule (or why it has none) when the caller keeps them."""
    info: dict[str, Any] = {
        "id": trigger.id,
        "type": trigger.type,
        "disabled": trigger.disabled or flow.disabled,
    }
    if trigger.type != SCHEDULE:
        return info
    spec = schedule_of(repo, flow, trigger) if spec is None else spec
    if isinstance(spec, ValueError):
        return {**info, "problem": str(spec)}
    info.update(cron=spec.cron, timezone=spec.timezone)
    if not info["disabled"]:
        at = next_tick(spec, now)
        info.update(next=at.isoformat(), nextUtc=iso(at.astimezone(dt.UTC)))
    return info


def schedule_of(repo: str, flow: Flow, trigger: Trigger) -> Schedule | ValueError:
    try:
        return Schedule.from_trigger(repo, flow, trigger)
    except ValueError as err:
        return err


def _run_dot(summary: RunSummary) -> dict[str, Any]:
    return {
        "id": summary.run,
        "state": summary.state,
        "started": summary.started,
        "dur_ms": summary.dur_ms,
        "commit": summary.commit,
    }


# a Schedule trigger: its spec (or why it has none), next fire time, what the page shows
_Known = tuple[Schedule | ValueError, dt.datetime | None, dict[str, Any]]


class Overview:
    def __init__(self, service: FlowService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._parsed: dict[str, tuple[str, list[FlowAtCommit]]] = {}  # repo → (commit, flows)
        # (repo, commit, file, trigger id) → its Schedule and the next fire time once asked
        self._next: dict[tuple[str, str, str, str], _Known] = {}

    def _flows_of(self, name: str, ref: str | None) -> list[FlowAtCommit]:
        git = self.service.repos[name]
        commit = git.resolve(ref or "HEAD")
        with self._lock:
            cached = self._parsed.get(name)
        if cached is None or cached[0] != commit:
            cached = (commit, self.service.catalog.flows(name, commit))
            with self._lock:
                self._parsed[name] = cached
                self._next = {key: value for key, value in self._next.items() if key[0] != name}
        branch = ref or git.current_branch()
        return [replace(f, ref=branch) for f in cached[1]]

    def flows(
        self,
        repo: str | None = None,
        namespace: str | None = None,
        ref: str | None = None,
        now: dt.datetime | None = None,
        last: int = LAST_RUNS,
    ) -> dict[str, Any]:
        """`{flows, repos, namespaces, now}`; flows sorted by repository, namespace, id."""
        now = now or dt.datetime.now(dt.UTC)
        found: list[dict[str, Any]] = []
        namespaces: set[str] = set()
        for name in sorted(self.service.repos):
            if repo and name != repo:
                continue
            latest: dict[str, list[dict[str, Any]]] = {}
            for summary in self.service.repos.history(name).latest_per_flow(last):
                latest.setdefault(summary.flow, []).append(_run_dot(summary))
            for item in self._flows_of(name, ref):
                flow = item.flow
                if flow is not None:
                    namespaces.update(_ancestors(flow.namespace))
                if flow is not None and namespace and not within(flow.namespace, namespace):
                    continue
                if flow is None and namespace:
                    continue
                found.append(_flow_row(item, latest, self._triggers(item, now)))
        found.sort(key=lambda f: (f["repo"], f["namespace"] or "~", f["id"] or f["file"]))
        return {
            "flows": found,
            "repos": sorted(self.service.repos),
            "namespaces": sorted(namespaces),
            "now": iso(now),
        }

    def _triggers(self, item: FlowAtCommit, now: dt.datetime) -> list[dict[str, Any]]:
        """The flow's triggers. A Schedule's answer is kept until its next fire time has
        passed (cron parsing costs about a millisecond per trigger)."""
        if item.flow is None:
            return []
        found = []
        for trigger in item.flow.triggers:
            if trigger.type != SCHEDULE:
                found.append(trigger_info(item.repo, item.flow, trigger, now))
                continue
            key = (item.repo, item.commit, item.file, trigger.id)
            with self._lock:
                known = self._next.get(key)
            if known is None or (known[1] is not None and known[1] <= now):
                spec = known[0] if known else schedule_of(item.repo, item.flow, trigger)
                info = trigger_info(item.repo, item.flow, trigger, now, spec)
                known = (spec, _parse(info.get("nextUtc")), info)
                with self._lock:
                    self._next[key] = known
            found.append(dict(known[2]))
        return found


def _parse(text: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _ancestors(namespace: str) -> list[str]:
    parts = namespace.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _flow_row(
    item: FlowAtCommit, latest: Mapping[str, list[dict[str, Any]]], triggers: list[dict[str, Any]]
) -> dict[str, Any]:
    flow = item.flow
    return {
        "repo": item.repo,
        "commit": item.commit,
        "ref": item.ref,
        "file": item.file,
        "namespace": flow.namespace if flow else None,
        "id": flow.id if flow else None,
        "description": flow.description if flow else None,
        "disabled": flow.disabled if flow else False,
        "triggers": triggers,
        "last": latest.get(flow.qualified_id, []) if flow else [],
        "diagnostics": [d.as_dict() for d in item.diagnostics],
    }


# -- executions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """The executions list's filters (all optional) and page."""

    state: str | None = None
    flow: str | None = None  # namespace.id
    namespace: str | None = None  # and the namespaces below it
    trigger: str | None = None  # push, schedule, manual, webhook, flow, rerun …
    text: str | None = None  # a part of the execution id
    repo: str | None = None
    before: str | None = None  # an execution id: the page after it
    limit: int = 50

    @classmethod
    def of(cls, args: Mapping[str, str]) -> Query:
        """From query parameters; empty ones are unset."""

        def get(key: str) -> str | None:
            value = (args.get(key) or "").strip()
            return value or None

        try:
            limit = int(args.get("limit") or args.get("size") or 50)
        except ValueError:
            limit = 50
        return cls(
            state=(get("state") or "").upper() or None,
            flow=get("flow"),
            namespace=get("namespace"),
            trigger=get("trigger"),
            text=get("q"),
            repo=get("repo"),
            before=(get("before") or "").upper() or None,
            limit=max(1, min(limit, MAX_PAGE)),
        )

    def keeps(self, row: Mapping[str, Any]) -> bool:
        return (
            (self.state is None or row["state"] == self.state)
            and (self.flow is None or row["flow"] == self.flow)
            and (self.namespace is None or within(str(row["namespace"]), self.namespace))
            and (self.trigger is None or row["trigger"] == self.trigger)
            and (self.text is None or self.text.upper() in row["id"].upper())
            and (self.repo is None or row["repo"] == self.repo)
            and (self.before is None or row["id"] < self.before)
        )


def _live_row(record: Record) -> dict[str, Any]:
    view = record.view
    execution = record.execution
    state: dict[str, Any] = dict(view["state"]) if view else execution.state.to_json()
    namespace, flow_id = execution.flow.namespace, execution.flow.id
    return {
        "id": execution.id,
        "namespace": namespace,
        "flowId": flow_id,
        "flow": f"{namespace}.{flow_id}",
        "state": state.get("current"),
        "startDate": state.get("startDate"),
        "endDate": state.get("endDate"),
        "duration": state.get("duration"),
        "dur_ms": None,
        "trigger": (record.trigger or {}).get("type"),
        "repo": record.repo,
        "commit": record.commit,
        "ref": None,
        "live": True,
    }


def _recorded_row(summary: RunSummary, repo: str) -> dict[str, Any]:
    namespace, _, flow_id = summary.flow.rpartition(".")
    terminal = summary.dur_ms is not None
    return {
        "id": summary.run,
        "namespace": namespace,
        "flowId": flow_id,
        "flow": summary.flow,
        "state": summary.state,
        "startDate": summary.started,
        "endDate": summary.updated if terminal else None,
        "duration": None,
        "dur_ms": summary.dur_ms,
        "trigger": summary.trigger,
        "repo": repo,
        "commit": summary.commit,
        "ref": summary.ref,
        "live": False,
    }


def search(service: FlowService, query: Query) -> dict[str, Any]:
    """`{results, next}`: one page of executions, newest first; `next` is the `before` of
    the following page (None on the last one)."""
    records = service.registry.all()
    rows: dict[str, dict[str, Any]] = {}
    more = False  # a repository has runs past this page
    for name in service.repos:
        if query.repo and name != query.repo:
            continue
        wanted = RunSearch(
            before=query.before,
            state=query.state,
            flow=query.flow,
            namespace=query.namespace,
            trigger=query.trigger,
            text=query.text,
            limit=query.limit + 1,
        )
        found = service.repos.history(name).search(wanted)
        more = more or len(found) > query.limit
        for summary in found:
            rows[summary.run] = _recorded_row(summary, name)
    for record in records:
        live = _live_row(record)
        recorded = rows.get(live["id"])
        if recorded is not None:  # the memory is fresher; the notes know the branch
            live.update(
                ref=recorded["ref"], dur_ms=recorded["dur_ms"], trigger=live["trigger"] or recorded["trigger"]
            )
        if query.keeps(live):
            rows[live["id"]] = live
        elif recorded is not None:  # its state moved on since it was recorded
            del rows[live["id"]]
    ordered = sorted(rows.values(), key=lambda row: row["id"], reverse=True)
    page = ordered[: query.limit]
    more = more or len(ordered) > query.limit
    return {"results": page, "next": page[-1]["id"] if more and page else None}


def recorded(service: FlowService, run: str) -> dict[str, Any]:
    """A run known from the notes history, shaped as the live execution API answers, with
    its log lines (webhooks/runs/recorded.py); NotFoundError when no served repository
    recorded it."""
    return service.history_views.execution(run)
