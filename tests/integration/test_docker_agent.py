"""Steps in a run's container through its agent: same results as docker exec, real Docker."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from runner.executors.docker import DockerExecutor
from runner.ports.executor import ContainerOptions, ProcessResult, ProcessSpec
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.test_docker_executor import Run, flow, outputs, step
from tests.waiting import CEILING, wait_until

pytestmark = pytest.mark.docker
# In the container's pid namespace a docker exec'd process has parent 0; an agent's step
# has the agent's subshell as parent: which path ran the step, seen from inside.
PARENT = "grep PPid /proc/$$/status | tr -dc 0-9"


class Steps:
    def __init__(self, executor: DockerExecutor, root: Path, session: str) -> None:
        self.executor, self.root, self.session = executor, root, session
        self.lines: list[tuple[str, str]] = []

    def __call__(self, *command: str, workdir: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float | None = None, cancel: threading.Event | None = None,
                 on_line: object = None) -> ProcessResult:
        self.lines = []
        spec = ProcessSpec(tuple(command), workdir or self.root, env=env or {},
                           container=ContainerOptions(image=BUSYBOX_IMAGE), timeout=timeout,
                           session=self.session, share_root=self.root)

        def collect(stream: str, line: str) -> None:
            self.lines.append((stream, line))
            if callable(on_line):
                on_line(stream, line)

        return self.executor.run(spec, collect, cancel)

    def out(self, stream: str = "stdout") -> list[str]:
        return [line for name, line in self.lines if name == stream]

    def agent(self) -> object:
        sessions = [s for s in self.executor._sessions.values() if s.key[0] == self.session]
        assert len(sessions) == 1
        return sessions[0].agent


@pytest.fixture
def steps(docker_executor: DockerExecutor, tmp_path: Path, request: pytest.FixtureRequest) -> Steps:
    made = Steps(docker_executor, tmp_path, f"agent-{request.node.name}")
    yield made  # type: ignore[misc]
    docker_executor.close_session(made.session)


def test_exit_code_streams_cwd_and_env_through_the_agent(steps: Steps) -> None:
    (steps.root / "sub").mkdir()
    result = steps("sh", "-c", f'echo "out $GREETING"; echo err >&2; pwd; {PARENT}; echo; exit 7',
                   workdir=steps.root / "sub", env={"GREETING": "hello 'world' $HOME"})
    assert result == ProcessResult(exit_code=7)
    assert steps.out()[:2] == ["out hello 'world' $HOME", str((steps.root / "sub").resolve())]
    assert steps.out()[2] != "0", "the step should run under the agent, not docker exec"
    assert steps.out("stderr") == ["err"]
    assert steps.agent() is not None


def test_a_missing_command_fails_like_exec(steps: Steps) -> None:
    result = steps("no-such-program", "x")
    assert result.exit_code == 127
    assert any("no-such-program" in line for line in steps.out("stderr"))


def test_timeout_kills_the_step_and_the_next_step_runs(steps: Steps) -> None:
    started = threading.Event()
    result = steps("sh", "-c", "echo started; sleep 60", timeout=1.0,
                   on_line=lambda stream, line: started.set())
    assert started.is_set()
    assert result == ProcessResult(exit_code=137, timed_out=True)
    assert steps("sh", "-c", "echo again").exit_code == 0
    assert steps.out() == ["again"]


def test_cancel_kills_a_running_step(steps: Steps) -> None:
    cancel = threading.Event()
    result = steps("sh", "-c", "echo started; sleep 60", cancel=cancel,
                   on_line=lambda stream, line: cancel.set())
    assert result == ProcessResult(exit_code=137, killed=True)


def test_a_dead_agent_falls_back_to_docker_exec(steps: Steps, docker_executor: DockerExecutor) -> None:
    assert steps("sh", "-c", PARENT).exit_code == 0
    assert steps.out() != ["0"]
    agent = steps.agent()
    session = next(s for s in docker_executor._sessions.values() if s.key[0] == steps.session)
    subprocess.run(["docker", "exec", session.container_id, "kill", "-KILL", str(agent.pid)],  # type: ignore[attr-defined]
                   check=True, capture_output=True)
    wait_until(lambda: not agent.alive(), "the agent to die", CEILING)  # type: ignore[attr-defined]
    result = steps("sh", "-c", f'{PARENT}; echo; echo err >&2; exit 3', env={"A": "b"})
    assert result.exit_code == 3
    assert steps.out() == ["0"], "docker exec runs the step now"
    assert steps.out("stderr") == ["err"]


def test_outputs_of_steps_of_a_flow(docker_executor: DockerExecutor,
                                                    tmp_path: Path) -> None:
    run = Run(docker_executor, tmp_path)
    text = flow(step("one", "out a 1"), step("two", 'out b "$(echo made)"', "echo bad >&2"))
    execution = run(text)
    assert str(execution.state.current) == "SUCCESS", run.logs("two")
    assert outputs(execution, "one")["a"] == "1"
    assert outputs(execution, "two")["b"] == "made"


def test_agent_directories_of_dead_runners_are_reaped(tmp_path: Path) -> None:
    import tempfile

    from runner.executors.agent import PREFIX, reap_dirs

    dead = Path(tempfile.mkdtemp(prefix=f"{PREFIX}999999999-"))
    mine = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    try:
        removed = reap_dirs(lambda pid: pid == os.getpid())
        assert dead in removed and not dead.exists()
        assert mine.exists()
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        shutil.rmtree(dead, ignore_errors=True)
