"""gitflows.docker.Services with real Docker: a TCP service beside container steps and
host-process steps, its logs on failure, and nothing left after the run or a kill."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner.engine import Engine
from runner.events import Collect, LogLine
from runner.execution import Execution
from runner.executors import Executors, LocalExecutor
from runner.executors.choose import docker_services
from runner.executors.docker import DockerExecutor
from runner.parse import parse_flow
from tests.conftest import BUSYBOX_IMAGE
from tests.waiting import CEILING, wait_until

pytestmark = pytest.mark.docker

# a one-line TCP service (the step's "Redis"): answers every connection with PONG
SERVER = "while :; do echo PONG | nc -l -p 6379; done"
SERVICES = f"""
  - id: with_redis
    type: gitflows.docker.Services
    services:
      redis:
        image: {BUSYBOX_IMAGE}
        command: [sh, -c, '{SERVER}']
        ports: [6379]
        healthcheck:
          timeout: PT60S
    tasks:
"""


def labelled(kind: str, execution_id: str) -> list[str]:
    out = subprocess.run(["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []),
                          "--filter", f"label=io.gitflows.execution={execution_id}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


class Run:
    def __init__(self, executors: Executors, tmp_path: Path) -> None:
        self.events = Collect()
        self.engine = Engine(executors, self.events, work_root=tmp_path,
                             data_dir=tmp_path / "data")

    def __call__(self, tasks: str) -> Execution:
        text = "id: services\nnamespace: tests.services\ntasks:\n" + SERVICES + tasks
        flow, diagnostics = parse_flow(text, "flow.yml")
        assert flow is not None, [d.format() for d in diagnostics]
        return self.engine.run(flow)

    def logs(self, task_id: str) -> list[str]:
        return [e.message for e in self.events.events
                if isinstance(e, LogLine) and e.task_id == task_id]


def test_a_container_step_reaches_its_service_by_name_then_it_is_gone(
        docker_executor: DockerExecutor, tmp_path: Path) -> None:
    run = Run(Executors(LocalExecutor(), docker_executor, services=docker_services), tmp_path)
    execution = run(f"""
      - id: ping
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {BUSYBOX_IMAGE}
        commands:
          - echo "at $SERVICE_REDIS_HOST:$SERVICE_REDIS_PORT"
          - echo PING | nc redis 6379
""")
    assert str(execution.state.current) == "SUCCESS", run.logs("ping") + run.logs("with_redis")
    assert "at redis:6379" in run.logs("ping")
    assert "PONG" in run.logs("ping")
    assert labelled("container", execution.id) == []
    assert labelled("network", execution.id) == []


def test_a_process_step_reaches_its_service_on_a_local_port(tmp_path: Path) -> None:
    docker_services()  # fails under CI=true without Docker, like the fixture
    run = Run(Executors(LocalExecutor(), services=docker_services), tmp_path)
    client = ("import socket; s = socket.create_connection(('{{ services.redis.host }}', "
              "{{ services.redis.port }})); print(s.recv(64).decode().strip())")
    execution = run(f"""
      - id: ping
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - echo "env $SERVICE_REDIS_HOST"
          - {sys.executable} -c "{client}"
""")
    assert str(execution.state.current) == "SUCCESS", run.logs("ping") + run.logs("with_redis")
    assert "env 127.0.0.1" in run.logs("ping")
    assert "PONG" in run.logs("ping")
    assert labelled("container", execution.id) == []
    assert labelled("network", execution.id) == []


def test_a_failing_step_shows_the_service_logs(docker_executor: DockerExecutor,
                                               tmp_path: Path) -> None:
    run = Run(Executors(LocalExecutor(), docker_executor, services=docker_services), tmp_path)
    execution = run(f"""
      - id: fails
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {BUSYBOX_IMAGE}
        commands:
          - echo PING | nc redis 6379
          - exit 3
""")
    assert str(execution.state.current) == "FAILED"
    shown = "\n".join(run.logs("with_redis"))
    assert "service redis logs" in shown
    assert labelled("container", execution.id) == []


def test_a_service_that_never_listens_fails_the_task_with_its_logs(
        docker_executor: DockerExecutor, tmp_path: Path) -> None:
    run = Run(Executors(LocalExecutor(), docker_executor, services=docker_services), tmp_path)
    text = ("id: services\nnamespace: tests.services\ntasks:\n"
            "  - id: broken\n    type: gitflows.docker.Services\n    services:\n"
            f"      db:\n        image: {BUSYBOX_IMAGE}\n"
            "        command: [sh, -c, 'echo cannot open the data directory; exit 7']\n"
            "        ports: [5432]\n    tasks:\n"
            "      - id: never\n        type: io.kestra.plugin.core.log.Log\n"
            "        message: should not run\n")
    flow, _ = parse_flow(text, "flow.yml")
    assert flow is not None
    execution = run.engine.run(flow)
    assert str(execution.state.current) == "FAILED"
    shown = "\n".join(run.logs("broken"))
    assert "exited with code 7" in shown
    assert "cannot open the data directory" in shown
    assert run.logs("never") == []
    assert labelled("container", execution.id) == []
    assert labelled("network", execution.id) == []


def test_killing_the_run_removes_its_services_and_network(
        docker_executor: DockerExecutor, tmp_path: Path) -> None:
    run = Run(Executors(LocalExecutor(), docker_executor, services=docker_services), tmp_path)
    box: list[Execution] = []
    steps = f"""
      - id: long
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {BUSYBOX_IMAGE}
        commands:
          - echo started
          - sleep 600
"""
    thread = threading.Thread(target=lambda: box.append(run(steps)))
    thread.start()
    wait_until(lambda: "started" in run.logs("long"), "the step under the services to start")
    execution_id = run.engine.active()[0]
    assert labelled("network", execution_id), "the services' network exists while they run"
    run.engine.kill(execution_id)
    thread.join(CEILING)
    assert str(box[0].state.current) == "KILLED"
    assert labelled("container", execution_id) == []
    assert labelled("network", execution_id) == []
