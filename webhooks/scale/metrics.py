"""GET /metrics of `flows serve` (Prometheus text); the only module that imports prometheus_client.

Read at scrape time from the service: queue depth (the embedded SQLite queue, or each
broker queue), executions this server knows by state (its own, or relayed from workers),
run duration histogram of the finished ones, and live workers when there is a broker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
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
        if remote is not None:
            alive = GaugeMetricFamily("gitflows_workers", "Live `flows worker` processes")
            alive.add_metric([], sum(1 for w in remote.workers() if w["alive"]))
            yield alive


def exposition(service: FlowService) -> tuple[bytes, str]:
    """The metrics page and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(service))
    return generate_latest(registry), CONTENT_TYPE_LATEST
