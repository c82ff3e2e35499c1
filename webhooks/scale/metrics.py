"""GET /metrics of `flows serve` (Prometheus text); the only module that imports prometheus_client.

Read at scrape time from the service: queue depth (the embedded SQLite queue, or each
broker queue), executions this server knows by state (its own, or relayed from workers),
run duration histogram of the finished ones, live workers when there is a broker, and the
step cache's lookups by result and bytes moved over those executions' task runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from webhooks.runs.service import FlowService, Record

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _state_and_duration(record: Record) -> tuple[str, float | None]:
    state: dict[str, Any] = (record.view or {}).get("state") or {}
    if not state:
        state = record.execution.state.to_json()
    start, end = _parse(state.get("startDate")), _parse(state.get("endDate"))
    seconds = (end - start).total_seconds() if start and end and record.done.is_set() else None
    return str(state.get("current")), seconds


def _caches(records: Iterable[Record]) -> Iterator[Mapping[str, Any]]:
    """The `cache` outputs of the task runs (runner/tasks/step_cache.py) of these executions."""
    for record in records:
        runs = (record.view or {}).get("taskRunList")
        outputs = ([r.get("outputs") for r in runs] if isinstance(runs, list)
                   else [r.outputs for r in list(record.execution.task_runs)])
        for output in outputs:
            cache = (output or {}).get("cache")
            if isinstance(cache, Mapping):
                yield cache


def _cache_metrics(records: Iterable[Record]) -> Iterator[Metric]:
    lookups = {"exact": 0, "restore-key": 0, "miss": 0}
    moved = {"restored": 0, "saved": 0}
    for cache in _caches(records):
        hit = str(cache.get("hit"))
        lookups[hit] = lookups.get(hit, 0) + 1
        moved["restored"] += int(cache.get("restoredBytes") or 0)
        moved["saved"] += int(cache.get("savedBytes") or 0)
    found = GaugeMetricFamily("gitflows_step_cache_lookups",
                              "Step cache lookups of the executions this server knows, by result",
                              labels=["result"])
    for result, count in sorted(lookups.items()):
        found.add_metric([result], count)
    yield found
    size = GaugeMetricFamily("gitflows_step_cache_bytes", "Step cache bytes restored and saved "
                             "by the executions this server knows", labels=["direction"])
    for direction, count in sorted(moved.items()):
        size.add_metric([direction], count)
    yield size


class _ServiceCollector(Collector):
    def __init__(self, service: FlowService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        depth = GaugeMetricFamily("gitflows_queue_depth", "Runs queued and not started yet",
                                  labels=["queue"])
        # RemoteDispatch, duck-typed: dramatiq is an extra, /metrics is not
        remote: Any = service.intake.broker if not service.intake.executes else None
        if remote is not None:
            for queue, count in remote.depths().items():
                depth.add_metric([queue], count)
        else:
            depth.add_metric(["embedded"], service.intake.queue.counts().get("queued", 0))
        yield depth
        records = service.registry.all()
        by_state: dict[str, int] = {}
        durations: list[float] = []
        for record in records:
            state, seconds = _state_and_duration(record)
            by_state[state] = by_state.get(state, 0) + 1
            if seconds is not None:
                durations.append(seconds)
        runs = GaugeMetricFamily("gitflows_runs", "Executions this server knows, by current state",
                                 labels=["state"])
        for state, count in sorted(by_state.items()):
            runs.add_metric([state], count)
        yield runs
        buckets = [(str(le), sum(1 for d in durations if d <= le)) for le in BUCKETS]
        yield HistogramMetricFamily("gitflows_run_duration_seconds", "Duration of finished runs",
                                    buckets=[*buckets, ("+Inf", len(durations))],
                                    sum_value=sum(durations))
        yield from _cache_metrics(records)
        if remote is not None:
            alive = GaugeMetricFamily("gitflows_workers", "Live `flows worker` processes")
            alive.add_metric([], sum(1 for w in remote.workers() if w["alive"]))
            yield alive


def exposition(service: FlowService) -> tuple[bytes, str]:
    """The metrics page and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(service))
    return generate_latest(registry), CONTENT_TYPE_LATEST
