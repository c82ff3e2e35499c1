"""`flows run`'s executor choice (runner/executors/lazy.py): the Docker SDK is imported only
when a container step needs it. A socket that answers /_ping gives a lazy engine; with
`auto`, one that does not answer gives host processes at once, warned as before; a named
engine that does not answer is an error. The engine is a stand-in on a real Unix socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import GitflowsError
from runner.executors.choose import NO_ENGINE
from runner.executors.lazy import LazyDocker, docker_answers, executors_for_run
from tests.conftest import REPO_ROOT


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Path]:
    """A Unix socket answering every request like Docker's /_ping."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    threading.Thread(target=serve, daemon=True).start()
    yield path
    server.close()


def test_an_answering_engine_is_connected_on_first_use(engine: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{engine}")
    warned: list[str] = []
    executors = executors_for_run("auto", warned.append)
    assert isinstance(executors.container, LazyDocker) and warned == []
    assert docker_answers({"DOCKER_HOST": "tcp://127.0.0.1:2375"}) is None  # remote: not probed


def test_auto_without_an_engine_runs_host_processes_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nobody-listens.sock'}")
    warned: list[str] = []
    executors = executors_for_run("auto", warned.append, {"TOKEN": "x"})
    assert executors.container is None and warned == [NO_ENGINE]
    assert executors.passed_env == {"TOKEN": "x"} and executors.services is not None


def test_a_named_engine_that_does_not_answer_is_an_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nobody-listens.sock'}")
    with pytest.raises(GitflowsError, match="--executor process"):
        executors_for_run("docker", lambda _: None)


@pytest.mark.parametrize("listening", [True, False])
def test_the_docker_sdk_is_not_imported_to_choose(engine: Path, tmp_path: Path,
                                                  listening: bool) -> None:
    socket_path = engine if listening else tmp_path / "nobody-listens.sock"
    code = ("import sys; from runner.executors.lazy import executors_for_run; "
            "executors_for_run('auto', print); print('docker' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True,
                         env={**os.environ, "DOCKER_HOST": f"unix://{socket_path}"}).stdout
    assert out.splitlines()[-1] == "False"
    assert (NO_ENGINE in out) is not listening
