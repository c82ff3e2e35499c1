"""What an untrusted run and any step may reach: files beneath the working directory only,
no server environment, no container engine socket, and no run at all without containers."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.errors import UsageError
from runner.events import Collect, LogLine
from runner.executors import Executors, LocalExecutor
from runner.ports.executor import ExecutorError, ProcessSpec, exposes_docker_socket
from runner.tasks.beneath import UnsafePath, copy_beneath, read_beneath, regular_files, write_beneath
from tests.unit.engine_helpers import Harness, flow_of

SHELL_ON_HOST = """
id: hello
namespace: demo
tasks:
  - id: step
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - touch {marker}
"""


def test_an_untrusted_run_without_a_container_engine_runs_nothing_and_says_why(
        tmp_path: Path) -> None:
    events = Collect()
    engine = Engine(Executors(LocalExecutor(), untrusted=True), events, data_dir=tmp_path / "d",
                    work_root=tmp_path)
    marker = tmp_path / "ran"
    execution = engine.run(flow_of(SHELL_ON_HOST.format(marker=marker)))
    assert str(execution.state.current) == "FAILED"
    assert not marker.exists()
    messages = [e.message for e in events.events if isinstance(e, LogLine)]
    assert any("only in containers" in m for m in messages), messages


def test_the_executors_never_hand_an_untrusted_step_to_the_host(tmp_path: Path) -> None:
    executors = Executors(LocalExecutor(), untrusted=True)
    with pytest.raises(ExecutorError, match="only in containers"):
        executors.for_spec(ProcessSpec(command=("true",), workdir=tmp_path))


def test_steps_do_not_inherit_the_environment_of_the_process_running_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITFLOWS_UI_TOKEN", "server-token-123")
    monkeypatch.setenv("SECRET_DB", "c2VjcmV0")
    harness = Harness(tmp_path)
    execution = harness.run("""
        id: env
        namespace: demo
        tasks:
          - id: show
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            env:
              MINE: "from-the-flow"
            commands:
              - env
        """)
    shown = "\n".join(harness.logs("show"))
    assert str(execution.state.current) == "SUCCESS", shown
    assert "MINE=from-the-flow" in shown and "PATH=" in shown
    assert "server-token-123" not in shown and "SECRET_DB" not in shown


def test_passed_variables_reach_trusted_steps_only(tmp_path: Path) -> None:
    events = Collect()
    executors = Executors(LocalExecutor(), passed_env={"HTTP_PROXY": "http://proxy:3128"})
    engine = Engine(executors, events, data_dir=tmp_path / "d", work_root=tmp_path)
    engine.run(flow_of("""
        id: env
        namespace: demo
        tasks:
          - id: show
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            commands:
              - echo "proxy=$HTTP_PROXY"
        """))
    assert "proxy=http://proxy:3128" in [e.message for e in events.events if isinstance(e, LogLine)]


# -- files beneath a directory ---------------------------------------------------------------
def test_links_are_never_followed_out_of_the_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "d").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    (work / "plain.txt").write_text("mine")
    (work / "env.txt").symlink_to("/proc/self/environ")
    (work / "link.txt").symlink_to(outside)
    (work / "d" / "up").symlink_to(tmp_path)
    assert read_beneath(work, "plain.txt") == b"mine"
    for rel in ("env.txt", "link.txt", "d/up/outside.txt", "../outside.txt", "/etc/passwd"):
        with pytest.raises(UnsafePath):
            read_beneath(work, rel)
    assert list(regular_files(work)) == ["plain.txt"]
    target = tmp_path / "copy"
    with pytest.raises(UnsafePath):
        copy_beneath(work, "link.txt", target)
    assert not target.exists()


def test_a_fifo_is_refused_rather_than_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnsafePath, match="not a regular file"):
        read_beneath(tmp_path, "pipe")


def test_writes_replace_a_planted_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    (work / "input.txt").symlink_to(victim)
    write_beneath(work, "input.txt", b"new")
    assert victim.read_text() == "intact"
    assert (work / "input.txt").read_text() == "new" and not (work / "input.txt").is_symlink()
    (work / "sub").symlink_to(tmp_path)
    with pytest.raises(UnsafePath):
        write_beneath(work, "sub/victim.txt", b"through a directory link")
    assert victim.read_text() == "intact"


def test_a_link_swapped_in_while_copying_never_leaks(tmp_path: Path) -> None:
    """A background process keeps swapping a file and a link to a host file: every copy is
    either the step's own content or refused."""
    work = tmp_path / "work"
    work.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("HOST SECRET")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            path = work / "out.txt"
            path.unlink(missing_ok=True)
            path.write_text("step output")
            path.unlink(missing_ok=True)
            path.symlink_to(secret)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        for index in range(300):
            target = tmp_path / f"copy-{index}"
            try:
                copy_beneath(work, "out.txt", target)
            except (UnsafePath, FileNotFoundError):
                continue
            assert "HOST SECRET" not in target.read_text()
    finally:
        stop.set()
        swapper.join()


# -- container engine sockets ----------------------------------------------------------------
def test_the_docker_socket_is_recognised_under_any_name(tmp_path: Path) -> None:
    sock = tmp_path / "engine.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
        (tmp_path / "innocent").symlink_to(sock)
        assert exposes_docker_socket(sock)
        assert exposes_docker_socket(tmp_path / "innocent")
    assert exposes_docker_socket(Path("/var/run"))
    assert exposes_docker_socket(Path("/"))
    assert exposes_docker_socket(Path("/run/docker.sock"))
    assert not exposes_docker_socket(tmp_path / "data")


def test_pass_env_in_the_server_configuration_is_checked(tmp_path: Path) -> None:
    from webhooks.config import load_config

    config = tmp_path / "serve.yml"
    config.write_text("pass_env: [HTTP_PROXY, NO_PROXY]\nallow_volumes: true\n")
    loaded = load_config(config)
    assert loaded.pass_env == ("HTTP_PROXY", "NO_PROXY") and loaded.allow_volumes
    assert not loaded.allow_docker_socket
    for bad in ("pass_env: [SECRET_DB]", "pass_env: ['A B']", "pass_env: PATH",
                "allow_volumes: 'yes'"):
        config.write_text(bad + "\n")
        with pytest.raises(UsageError):
            load_config(config)
