"""Schedule triggers fire from the server's ticker, each tick once, across a restart."""

from __future__ import annotations

import time
from pathlib import Path

from runner.executors import Executors, LocalExecutor
from tests.integration.test_hooks import commit, git
from tests.waiting import CEILING, wait_until
from webhooks.config import RepoConfig, ServerConfig
from webhooks.loops.ticker import Ticker
from webhooks.runs.service import FlowService
from webhooks.runs.workers import QueueWorker

FLOW = """\
id: every_second
namespace: demo
triggers:
  - id: tick
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
tasks:
  - id: when
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
"""


def _service(repo: Path, data: Path) -> FlowService:
    config = ServerConfig(data_dir=data, repos=(RepoConfig(name="demo", location=str(repo)),))
    return FlowService(config, Executors(LocalExecutor()), environ={})


def _run_for(service: FlowService, seconds: float, fires: int = 0) -> list[str]:
    """Tick for a while through the durable queue, and on until at least `fires` ticks were
    queued (a busy machine may tick too seldom to catch each second); the trigger dates of the
    finished runs."""
    ticker, worker = Ticker(service), QueueWorker(service, service.intake.queue)
    worker.start()
    started = time.monotonic()
    while time.monotonic() < started + seconds or sum(service.intake.queue.counts().values()) < fires:
        assert time.monotonic() < started + CEILING, f"fewer than {fires} ticks fired"
        ticker.tick_once()
        time.sleep(0.1)
    queue = service.intake.queue
    wait_until(lambda: not (queue.counts().get("queued") or queue.counts().get("running")),
               "the queued ticks to run")
    worker.stop()
    return [r["taskRunList"][0]["outputs"]["value"] for r in service.registry.recent(1000)]


def test_ticks_fire_once_each_even_across_a_restart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/every_second.yml", FLOW, "schedule")
    data = tmp_path / "data"
    first = _service(repo, data)
    dates = _run_for(first, 3.2, fires=2)
    assert len(dates) >= 2, "a per-second schedule should fire every second"
    second = _service(repo, data)  # a restart: same state file, fresh process state
    dates += _run_for(second, 2.2)
    assert len(dates) == len(set(dates)), f"a tick fired twice: {sorted(dates)}"
    assert all(d.endswith(("Z", "+00:00")) or "T" in d for d in dates)
