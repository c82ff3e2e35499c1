"""gitflows.docker.Services with real Docker: a TCP service beside container steps and
host-process steps, its logs on failure, and nothing left after the run or a kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Collect, LogLine
from runner.executors import Executors, LocalExecutor
from runner.executors.choose import docker_services
from runner.executors.docker import DockerExecutor
from runner.language.parse import parse_flow
from tests.conftest import BUSYBOX_IMAGE, FLOWS
from tests.integration.service_images import build_redis_image
from tests.waiting import CEILING, wait_until

pytestmark = pytest.mark.docker

# a one-line TCP service: answers every connection with PONG, then closes it
SERVER = "while :; do echo PONG | nc -l -p 6379; done"
SERVICES = """
  - id: with_redis
    type: gitflows.docker.Services
    services:
      redis:
        image: {image}
        command: [redis-server, --protected-mode, "no", --save, ""]
        ports: [6379]
        healthcheck:
          command: [redis-cli, ping]
          timeout: PT60S
    tasks:
"""


@pytest.fixture(scope="session")
def redis_image(docker_executor: DockerExecutor, tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_redis_image(BUSYBOX_IMAGE, tmp_path_factory.mktemp("redis-image"))


def labelled(kind: str, execution_id: str) -> list[str]:
    out = subprocess.run(["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []),
                          "--filter", f"label=io.gitflows.execution={execution_id}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


class Run:
    def __init__(self, executors: Executors, tmp_path: Path, image: str = BUSYBOX_IMAGE) -> None:
        self.image = image
        self.events = Collect()
        self.engine = Engine(executors, self.events, work_root=tmp_path,
                             data_dir=tmp_path / "data")

    def __call__(self, tasks: str) -> Execution:
        text = ("id: services\nnamespace: tests.services\ntasks:\n"
                + SERVICES.format(image=self.image) + tasks)
        flow, diagnostics = parse_flow(text, "flow.yml")
        assert flow is not None, [d.format() for d in diagnostics]
        return self.engine.run(flow)

    def logs(self, task_id: str) -> list[str]:
        return [e.message for e in self.events.events
                if isinstance(e, LogLine) and e.task_id == task_id]


def docker_run(docker_executor: DockerExecutor, tmp_path: Path, image: str,
               untrusted: bool = False) -> Run:
    executors = Executors(LocalExecutor(), docker_executor, services=docker_services,
                          untrusted=untrusted)
    return Run(executors, tmp_path, image)


def test_a_container_step_uses_redis_by_name_then_it_is_gone(
        docker_executor: DockerExecutor, redis_image: str, tmp_path: Path) -> None:
    run = docker_run(docker_executor, tmp_path, redis_image)
    execution = run(f"""
      - id: client
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {redis_image}
        commands:
          - echo "at $SERVICE_REDIS_HOST:$SERVICE_REDIS_PORT"
          - redis-cli -h "$SERVICE_REDIS_HOST" -p "$SERVICE_REDIS_PORT" set greeting hello
          - redis-cli -h redis get greeting
""")
    assert str(execution.state.current) == "SUCCESS", run.logs("client") + run.logs("with_redis")
    assert run.logs("client")[-3:] == ["at redis:6379", "OK", "hello"]
    assert labelled("container", execution.id) == []
    assert labelled("network", execution.id) == []


def test_a_process_step_uses_redis_on_a_local_port(redis_image: str, tmp_path: Path) -> None:
    run = Run(Executors(LocalExecutor(), services=docker_services), tmp_path, redis_image)
    execution = run("""
      - id: client
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - echo "env $SERVICE_REDIS_HOST:$SERVICE_REDIS_PORT"
          - redis-cli -h {{ services.redis.host }} -p {{ services.redis.port }} set n 41
          - redis-cli -h "$SERVICE_REDIS_HOST" -p "$SERVICE_REDIS_PORT" incr n
""")
    assert str(execution.state.current) == "SUCCESS", run.logs("client") + run.logs("with_redis")
    lines = run.logs("client")
    host, port = lines[-3].removeprefix("env ").split(":")
    assert host == "127.0.0.1" and int(port) > 0  # the published port, not 6379 in a container
    assert lines[-2:] == ["OK", "42"]
    assert labelled("container", execution.id) == []
    assert labelled("network", execution.id) == []


@pytest.mark.parametrize("untrusted", [False, True])
def test_a_port_that_answers_is_ready_without_a_healthcheck(
        docker_executor: DockerExecutor, tmp_path: Path, untrusted: bool) -> None:
    # untrusted: no address to connect to; readiness is read from the service's /proc/net/tcp
    run = docker_run(docker_executor, tmp_path, BUSYBOX_IMAGE, untrusted=untrusted)
    flow, _ = parse_flow(f"""
id: services
namespace: tests.services
tasks:
  - id: with_tcp
    type: gitflows.docker.Services
    services:
      echo-server:
        image: {BUSYBOX_IMAGE}
        command: [sh, -c, '{SERVER}']
        ports: [6379]
    tasks:
      - id: client
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {BUSYBOX_IMAGE}
        commands:
          - echo PING | nc "$SERVICE_ECHO_SERVER_HOST" "$SERVICE_ECHO_SERVER_PORT"
""", "flow.yml")
    assert flow is not None
    execution = run.engine.run(flow)
    assert str(execution.state.current) == "SUCCESS", run.logs("client") + run.logs("with_tcp")
    assert run.logs("client")[-1] == "PONG"


def test_a_failing_step_shows_the_service_logs(
        docker_executor: DockerExecutor, redis_image: str, tmp_path: Path) -> None:
    run = docker_run(docker_executor, tmp_path, redis_image)
    execution = run(f"""
      - id: fails
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {redis_image}
        commands:
          - exit 3
""")
    assert str(execution.state.current) == "FAILED"
    shown = "\n".join(run.logs("with_redis"))
    assert "service redis logs" in shown
    assert "Ready to accept connections" in shown  # what redis-server printed
    assert labelled("container", execution.id) == []


def test_a_service_that_never_listens_fails_the_task_with_its_logs(
        docker_executor: DockerExecutor, tmp_path: Path) -> None:
    run = docker_run(docker_executor, tmp_path, BUSYBOX_IMAGE)
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
        docker_executor: DockerExecutor, redis_image: str, tmp_path: Path) -> None:
    run = docker_run(docker_executor, tmp_path, redis_image)
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
    assert labelled("container", execution_id)
    run.engine.kill(execution_id)
    thread.join(CEILING)
    assert str(box[0].state.current) == "KILLED"
    assert labelled("container", execution_id) == []
    assert labelled("network", execution_id) == []


def test_a_timeout_removes_the_services(
        docker_executor: DockerExecutor, redis_image: str, tmp_path: Path) -> None:
    run = docker_run(docker_executor, tmp_path, redis_image)
    execution = run(f"""
      - id: long
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {BUSYBOX_IMAGE}
        timeout: PT1S
        commands:
          - sleep 600
""")
    assert str(execution.state.current) == "FAILED"
    assert any("timed out" in line for line in run.logs("long"))
    assert labelled("container", execution.id) == []
    assert labelled("network", execution.id) == []


def _host_listener() -> tuple[socket.socket, str]:
    """A TCP server on every host address, and the host's address on Docker's default bridge."""
    server = socket.create_server(("0.0.0.0", 0))
    gateway = subprocess.run(["docker", "network", "inspect", "bridge", "-f",
                              "{{(index .IPAM.Config 0).Gateway}}"], capture_output=True,
                             text=True, check=True).stdout.strip()
    return server, gateway


@pytest.mark.parametrize("untrusted", [True, False])
def test_an_untrusted_run_reaches_its_services_and_nothing_else(
        docker_executor: DockerExecutor, redis_image: str, tmp_path: Path,
        untrusted: bool) -> None:
    server, gateway = _host_listener()
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    port = server.getsockname()[1]
    run = docker_run(docker_executor, tmp_path, redis_image, untrusted=untrusted)
    try:
        execution = run(f"""
      - id: client
        type: io.kestra.plugin.scripts.shell.Commands
        containerImage: {redis_image}
        commands:
          - redis-cli -h "$SERVICE_REDIS_HOST" -p "$SERVICE_REDIS_PORT" ping
          - if echo x | nc {gateway} {port}; then echo outside reached; else echo outside blocked; fi
""")
    finally:
        server.close()
    assert str(execution.state.current) == "SUCCESS", run.logs("client") + run.logs("with_redis")
    lines = run.logs("client")
    assert "PONG" in lines
    # the trusted run proves the host listener answers: only the internal network blocks it
    assert ("outside blocked" if untrusted else "outside reached") in lines, lines
    assert labelled("network", execution.id) == []


@pytest.mark.parametrize("executor", ["docker", "process"])
def test_sigkill_of_the_runner_leaves_no_service_after_the_next_start(
        docker_executor: DockerExecutor, redis_image: str, write_flow: Callable[..., Path],
        executor: str) -> None:
    path = write_flow("id: services\nnamespace: tests.services\ntasks:\n"
                      + SERVICES.format(image=redis_image) + """
      - id: long
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo started
          - sleep 600
""")
    proc = subprocess.Popen([*FLOWS, "run", str(path), "--executor", executor],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # ends with the process: the assertion below then says why
        if "started" in line:
            break
    owner = f"label=io.gitflows.owner={_owner_of(proc.pid)}"
    left = _ids("container", owner), _ids("network", owner)
    assert all(left), "the service and its network run while the step runs"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(CEILING)
    assert _ids("container", owner), "they outlive a SIGKILLed runner until the next start"
    docker_services()  # what a runner does when a Services task starts (DockerExecutor too)
    assert _ids("container", owner) == [] and _ids("network", owner) == []


def _owner_of(pid: int) -> str:
    """The io.gitflows.owner label value of a runner process (see executors/docker.owner_id)."""
    started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return f"{socket.gethostname()}:{pid}:{started}"


def _ids(kind: str, label: str) -> list[str]:
    out = subprocess.run(["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []),
                          "--filter", label], capture_output=True, text=True, check=True).stdout
    return out.split()
