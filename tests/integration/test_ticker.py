"""Schedule triggers fire from the server's ticker, each tick once, across a restart."""

from __future__ import annotations

import time
from pathlib import Path

from runner.executors import Executors, LocalExecutor
from tests.integration.test_hooks import commit, git
from webhooks.config import RepoConfig, ServerConfig
from webhooks.service import FlowService
from webhooks.ticker import Ticker

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


def _run_for(service: FlowService, seconds: float) -> list[str]:
    ticker = Ticker(service)
    started: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started += ticker.tick_once()
        time.sleep(0.1)
    return started


def _dates(service: FlowService, runs: list[str]) -> list[str]:
    dates = []
    for run in runs:
        record = service.record(run)
        assert record.done.wait(10)
        dates.append(record.execution.to_json()["taskRunList"][0]["outputs"]["value"])
    return dates


def test_ticks_fire_once_each_even_across_a_restart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/every_second.yml", FLOW, "schedule")
    data = tmp_path / "data"
    first = _service(repo, data)
    dates = _dates(first, _run_for(first, 3.2))
    assert len(dates) >= 2, "a per-second schedule should fire within 3 s"
    second = _service(repo, data)  # a restart: same state file, fresh process state
    dates += _dates(second, _run_for(second, 2.2))
    assert len(dates) == len(set(dates)), f"a tick fired twice: {sorted(dates)}"
    assert all(d.endswith(("Z", "+00:00")) or "T" in d for d in dates)
