"""Exactly once after kill -9 of the server: the server taking a run over first kills what
the dead attempt still runs (its host step's process group, its containers), so the side
effect of a step is never done by two attempts at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runner.executors import Executors, LocalExecutor
from tests.conftest import Server, free_port
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING
from webhooks.config import RepoConfig, ServerConfig
from webhooks.runs.service import FlowService
from webhooks.runs.workers import QueueWorker

APPENDER = """\
id: appender
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "start $$" >> {side}
      # the first attempt outlives any take-over however slow the machine; a later one is quick
      - if [ "$(wc -l < {side})" -le 1 ]; then sleep 120; else sleep 1; fi
      - echo "end $$" >> {side}
"""


def _start(tmp_path: Path, config: Path, port: int, name: str) -> Server:
    return Server(["--config", str(config), "--data", str(tmp_path / "data"), "--executor",
                   "process"], port=port, log=tmp_path / f"{name}.log",
                  env={"HELLO_SECRET": SECRET})


def _wait(probe: Any, what: str, timeout: float = CEILING) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_the_dead_attempts_step_is_killed_before_the_run_starts_again(
        tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    side = tmp_path / "side-effect.txt"
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    first = commit(repo, ".flows/appender.yml", APPENDER.format(side=side), "flow")
    second = commit(repo, "x.txt", "x", "change")
    config = tmp_path / "serve.yml"
    config.write_text(f"queue_lease: 2s\nrepos:\n  - name: octo/hello\n    location: {repo}\n"
                      "    provider: github\n    webhook_secret_env: HELLO_SECRET\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(tmp_path, config, port, "first")
    try:
        assert deliver(base, push_payload(octokit_examples, first, second, "change"))[0] == 202
        _wait(lambda: side.exists() and side.read_text().startswith("start "), "the first step")
    finally:
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-step: its sleep is still running
        server.proc.wait(10)
    old = int(side.read_text().split()[1])
    assert _running(old)  # the dead server's step goes on without it …

    server = _start(tmp_path, config, port, "second")
    try:
        runs = _wait(lambda: [r for r in call(base, "GET", "/api/v1/executions")[1]
                              if r["state"]["current"] in ("SUCCESS", "FAILED")], "the take-over")
        assert runs[0]["state"]["current"] == "SUCCESS"
        lines = side.read_text().splitlines()
        new = int(lines[1].split()[1])
        # … until the take-over: the old attempt never reached its second append
        assert lines == [f"start {old}", f"start {new}", f"end {new}"]
        assert not _running(old)
        assert not any((tmp_path / "data" / "steps").glob("*/*"))  # ended steps leave nothing
        assert "killed its steps' process groups" in (tmp_path / "second.log").read_text()
    finally:
        server.stop()


FLOW = """\
id: hello
namespace: demo
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


@pytest.mark.docker
def test_a_take_over_removes_the_dead_attempts_containers(tmp_path: Path,
                                                          docker_executor: Any) -> None:
    """A container of the dead attempt is removed even when its owner process looks alive (a
    server whose lease ran out while it hung): reap() at start-up would keep it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hello.yml", FLOW, "flow")
    docker = docker_executor  # fails under CI=true when no engine answers
    config = ServerConfig(data_dir=tmp_path / "data", repos=(RepoConfig(name="demo", location=str(repo)),))
    service = FlowService(config, Executors(LocalExecutor(), docker), environ={})
    dead = "01DEADCONTAINER000000000000"
    container = docker.client.containers.run(
        "gitflows-test/busybox:1", ["sleep", "300"], detach=True,
        labels={"io.gitflows.execution": dead, "io.gitflows.managed": "1",
                "io.gitflows.owner": docker.owner})
    try:
        assert service.intake.enqueue("k1", "demo", "demo", "hello", service.repos["demo"].resolve("HEAD"),
                                      {"type": "manual"})
        item = service.intake.queue.claim("hung-server", 0.01)
        assert item is not None
        service.intake.queue.started(item.id, dead)
        time.sleep(0.05)  # the hung server's lease runs out
        worker = QueueWorker(service, service.intake.queue, lease=5)
        worker.start()
        try:
            _wait(lambda: service.intake.queue.counts() == {"done": 1}, "the take-over")
        finally:
            worker.stop()
        found = docker.client.containers.list(all=True,
                                              filters={"label": f"io.gitflows.execution={dead}"})
        assert found == []
    finally:
        subprocess.run(["docker", "rm", "-f", container.id], capture_output=True)
        service.close()
