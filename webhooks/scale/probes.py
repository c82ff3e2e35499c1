"""GET /healthz and GET /metrics: what a load balancer and Prometheus read of a server,
as flask-free routes (webhooks/ingress/httpapi.py) that webhooks/app.py binds."""

from __future__ import annotations

from webhooks.ingress.httpapi import Call, Reply, Route
from webhooks.runs.service import FlowService


def routes(service: FlowService) -> list[Route]:
    def healthz(_call: Call) -> Reply:
        return Reply(200, {"status": "ok", "repos": sorted(service.repos)})

    def metrics(_call: Call) -> Reply:
        """Prometheus: queue depth, runs by state, run durations, live workers."""
        from webhooks.scale.metrics import exposition  # prometheus_client: only when scraped

        body, content_type = exposition(service)
        return Reply(200, body, content_type=content_type)

    return [Route("GET", "/healthz", "healthz", healthz),
            Route("GET", "/metrics", "metrics", metrics)]
