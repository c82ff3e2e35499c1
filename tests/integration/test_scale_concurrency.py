"""Flow `concurrency` across `flows worker` processes (a real redis-server): the limit holds
over every worker, a queued run starts when a slot frees, first come first served, and a
dead worker's slot is not lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from runner.engine.concurrency import Admission
from tests.conftest import Server
from tests.integration.test_scale import (  # noqa: F401 (fixtures)
    Worker,
    _repo,
    _until,
    _workers,
    redis_server,
    redis_url,
)
from tests.integration.test_serve import call
from tests.waiting import Gate
from webhooks.scale.redisio import PREFIX, connect
from webhooks.scale.slots import RedisSlots

KEY = ("octo/hello", "demo.one")


def _alive(client: object, *workers: str) -> None:
    client.zadd(PREFIX + "heartbeats", {w: time.time() for w in workers})  # type: ignore[attr-defined]


def test_the_limit_holds_across_ledgers_and_the_line_is_first_come_first_served(
        redis_url: str) -> None:  # noqa: F811
    client = connect(redis_url)
    _alive(client, "w1", "w2")
    one, two = RedisSlots(client, "w1", 30, poll=0.01), RedisSlots(client, "w2", 30, poll=0.01)
    assert one.acquire(KEY, "run-a", 1, queue=True) is Admission.GRANTED
    assert two.acquire(KEY, "run-b", 1, queue=False) is Admission.REJECTED  # FAIL / CANCEL
    assert two.acquire(KEY, "run-b", 1, queue=True) is Admission.QUEUED
    assert one.acquire(KEY, "run-c", 1, queue=True) is Admission.QUEUED
    granted: list[str] = []
    waiters = [threading.Thread(target=lambda s=s, h=h: s.wait(KEY, h) and granted.append(h))
               for s, h in ((one, "run-c"), (two, "run-b"))]
    for waiter in waiters:
        waiter.start()
    one.release(KEY, "run-a")
    _until("the head of the line granted", lambda: granted)
    assert granted == ["run-b"]  # it queued first
    two.release(KEY, "run-b")
    for waiter in waiters:
        waiter.join(30)
    assert granted == ["run-b", "run-c"]


def test_a_dead_worker_s_slot_is_freed(redis_url: str) -> None:  # noqa: F811
    client = connect(redis_url)
    _alive(client, "w2")
    client.zadd(PREFIX + "heartbeats", {"dead": time.time() - 60})
    dead, live = RedisSlots(client, "dead", 5), RedisSlots(client, "w2", 5)
    assert dead.acquire(KEY, "run-a", 1, queue=True) is Admission.GRANTED  # then it dies
    assert live.acquire(KEY, "run-b", 1, queue=True) is Admission.GRANTED


def test_a_cancelled_waiter_leaves_the_line(redis_url: str) -> None:  # noqa: F811
    client = connect(redis_url)
    _alive(client, "w1")
    slots = RedisSlots(client, "w1", 30, poll=0.01)
    assert slots.acquire(KEY, "run-a", 1, queue=True) is Admission.GRANTED
    assert slots.acquire(KEY, "run-b", 1, queue=True) is Admission.QUEUED
    cancelled = threading.Event()
    cancelled.set()
    assert not slots.wait(KEY, "run-b", cancelled)
    slots.release(KEY, "run-a")
    assert slots.acquire(KEY, "run-c", 1, queue=False) is Admission.GRANTED  # nobody ahead


ONE = """\
id: one
namespace: demo
concurrency:
  limit: 1
  behavior: QUEUE
tasks:
  - id: hold
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ['HOLD']
"""


def test_flow_concurrency_holds_across_two_workers(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    """Before: each worker counted only its own runs, so two workers ran two at once."""
    gate = Gate(tmp_path / "gate")
    repo = _repo(tmp_path, {".flows/one.yml": ONE.replace("HOLD", gate.hold)})
    server = Server(["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor",
                     "process"], cwd=repo, log=tmp_path / "serve.log")
    workers = [Worker(redis_url, tmp_path / f"w{i}", concurrency=1) for i in (1, 2)]

    def state(execution: str) -> str:
        return str(call(server.base, "GET", f"/api/v1/executions/{execution}")[1]
                   ["state"]["current"])

    try:
        _until("two live workers", lambda: len([w for w in _workers(redis_url) if w["alive"]]) == 2)
        first = call(server.base, "POST", "/api/v1/executions/demo/one")[1]["id"]
        _until("the first run running", lambda: state(first) == "RUNNING")
        second = call(server.base, "POST", "/api/v1/executions/demo/one")[1]["id"]
        _until("the second run queued on the other worker", lambda: state(second) == "QUEUED")
        assert state(first) == "RUNNING"
        gate.open()
        _until("both runs done", lambda: state(first) == state(second) == "SUCCESS")
    finally:
        gate.open()
        for worker in workers:
            worker.stop()
        server.stop()
