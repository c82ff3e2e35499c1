"""A Flow trigger in the server: the end of one flow queues the flows listening for it."""

from __future__ import annotations

import time
from pathlib import Path

from runner.executors import Executors, LocalExecutor
from tests.integration.test_hooks import commit, git
from tests.waiting import CEILING
from webhooks.config import RepoConfig, ServerConfig
from webhooks.runs.service import FlowService
from webhooks.runs.workers import QueueWorker

BUILD = """\
id: build
namespace: demo
tasks:
  - id: make
    type: io.kestra.plugin.core.debug.Return
    format: built
"""
DEPLOY = """\
id: deploy
namespace: demo
triggers:
  - id: after_build
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: demo
        flowId: build
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
tasks:
  - id: ship
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.executionId }} {{ trigger.state }}"
"""
ALERT = """\
id: alert
namespace: demo
triggers:
  - id: on_failure
    type: io.kestra.plugin.core.trigger.Flow
    states: [FAILED]
tasks:
  - id: page
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.flowId }} failed"
"""


def test_flow_end_starts_listening_flows(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, text in (("build", BUILD), ("deploy", DEPLOY), ("alert", ALERT)):
        commit(repo, f".flows/{name}.yml", text, name)
    config = ServerConfig(data_dir=tmp_path / "data",
                          repos=(RepoConfig(name="demo", location=str(repo)),))
    service = FlowService(config, Executors(LocalExecutor()), environ={})
    worker = QueueWorker(service, service.intake.queue)
    worker.start()
    try:
        build = service.runs.start("demo", "build", {}, repo="demo")
        deadline = time.monotonic() + CEILING
        while True:
            runs = {r["flowId"]: r for r in service.registry.recent(10)}
            if "deploy" in runs and runs["deploy"]["state"]["current"] == "SUCCESS":
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.05)
        time.sleep(0.5)
        runs = {r["flowId"]: r for r in service.registry.recent(10)}
        assert set(runs) == {"build", "deploy"}  # alert listens for FAILED only
        ship = runs["deploy"]["taskRunList"][0]["outputs"]["value"]
        assert ship == f"{build.id} SUCCESS"
    finally:
        worker.stop()
        service.close()
