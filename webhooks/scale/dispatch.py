"""RemoteDispatch: FlowService's broker when runs execute on `flows worker` processes.

enqueue reserves the run key in the Redis ledger first: several `flows serve` replicas
receiving the same webhook delivery or firing the same cron tick (same key) send one
message. The queue is the flow's workerGroup key (Kestra), else `default`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from runner.errors import GitflowsError
from runner.reporters.notify import Alert, alerts_from_data, alerts_to_data
from runner.yamlsource import load
from webhooks.config import ServerConfig
from webhooks.runs.reporting import ui_base
from webhooks.runs.service import FlowService
from webhooks.scale.broker import DEFAULT_QUEUE, Broker
from webhooks.scale.redisio import Controls, Ledger, Registry


def plain(value: Any) -> Any:
    """Value as plain JSON data, as a broker message must carry it: what JSON has no type
    for (a datetime, a Path …) becomes its str(), exactly as in the durable run queue
    (webhooks/runs/queue.py), so a run reads the same values whichever way it reached a worker."""
    return json.loads(json.dumps(value, default=str))


def server_data(config: ServerConfig) -> dict[str, Any]:
    """What a worker needs of the server's configuration: links and failure alerts."""
    # the server's own address when public_url is unset: a worker's links lead to the server
    return {"public_url": ui_base(config), "notify": alerts_to_data(config.notify)}


def server_settings(data: Mapping[str, Any]) -> tuple[str | None, tuple[Alert, ...]]:
    """server_data's public URL and alerts back."""
    url = data.get("public_url")
    return (None if url is None else str(url)), alerts_from_data(data.get("notify") or ())


def _queue_name(key: Any) -> str | None:
    if isinstance(key, dict):
        key = key.get("key")
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(key)) if key else None


class RemoteDispatch:
    def __init__(self, service: FlowService, broker: Broker, client: Any) -> None:
        self.service = service
        self.broker = broker
        self.ledger = Ledger(client)
        self.controls = Controls(client)
        self.registry = Registry(client)
        self.queues: set[str] = {DEFAULT_QUEUE}  # every queue this server sent to (metrics)
        # who reserves run keys: the same after a restart (its data dir), so it may re-send
        self.sender = f"{socket.gethostname()}:{service.config.data_dir.resolve()}"
        self._routes: dict[tuple[str, str, str, str], str] = {}
        self._lock = threading.Lock()

    def queue_of(self, repo: str, namespace: str, flow_id: str, commit: str) -> str:
        """The flow's `workerGroup.key`, or the first one of its tasks; else `default`."""
        cache = (repo, namespace, flow_id, commit)
        with self._lock:
            if cache in self._routes:
                return self._routes[cache]
        queue = DEFAULT_QUEUE
        try:
            target, text = self.service.catalog.source(namespace, flow_id, repo, commit)
        except GitflowsError:  # the worker reports the missing flow
            return queue
        data = load(text, target.file).data
        found = _queue_name(data.get("workerGroup")) if isinstance(data, dict) else None
        if found is None and target.flow is not None:
            found = next((q for task in target.flow.all_tasks()
                          if (q := _queue_name(task.props.get("workerGroup")))), None)
        queue = found or queue
        with self._lock:
            self._routes[cache] = queue
            self.queues.add(queue)
        return queue

    def enqueue(self, key: str, repo: str, namespace: str, flow_id: str, commit: str,
                trigger: dict[str, Any], untrusted: bool, inputs: dict[str, Any],
                execution_id: str | None = None, reuse: Mapping[str, Any] | None = None,
                labels: Mapping[str, str] | None = None) -> bool:
        """reuse: a re-run's outputs of the earlier run (fromTask), applied by the worker;
        labels: those an API start or a re-run gives the execution."""
        queue = self.queue_of(repo, namespace, flow_id, commit)
        if not self.ledger.reserve(key, queue, self.sender):
            return False
        config = self.service.config
        repo_config = next((r for r in config.repos if r.name == repo), None)
        if repo_config is None:
            raise GitflowsError(f"{repo}: not a served repository")
        payload = {"key": key, "repo": dataclasses.asdict(repo_config), "namespace": namespace,
                   "flow_id": flow_id, "commit": commit, "trigger": plain(trigger),
                   "untrusted": bool(untrusted), "inputs": plain(inputs),
                   "execution_id": execution_id, "queue": queue, "queued": time.time(),
                   "server": server_data(config)}
        if reuse:
            payload["reuse"] = plain(reuse)
        if labels:
            payload["labels"] = {str(k): str(v) for k, v in labels.items()}
        try:
            self.broker.send(queue, payload)
        except Exception:
            self.ledger.forget(key)  # not sent: a later enqueue of the key may try again
            raise
        return True

    def cancel(self, execution_id: str) -> bool:
        self.controls.request(execution_id, "kill")
        return True

    def resume(self, execution_id: str, inputs: Mapping[str, Any]) -> bool:
        self.controls.request(execution_id, "resume", dict(inputs))
        return True

    def depths(self) -> dict[str, int]:
        return self.broker.depths(sorted(self.queues))

    def workers(self) -> list[dict[str, Any]]:
        return self.registry.workers()
