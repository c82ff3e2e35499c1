"""Shared fixtures. Real parts only: a real Docker engine, real git, real processes.

Under CI=true a test that needs Docker fails when no engine answers; locally it
is skipped with the reason, so `pytest tests/unit` works anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

BUSYBOX_IMAGE = "gitflows-test/busybox:1"
PYTHON_IMAGE = "gitflows-test/python:3"
REPO_ROOT = Path(__file__).resolve().parent.parent
FLOWS = [str(Path(sys.executable).parent / "flows")]


def _missing(what: str, why: str) -> None:
    message = f"{what} is not available: {why}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: tests that need it fail rather than skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_executor():  # type: ignore[no-untyped-def]
    """A DockerExecutor connected to a live engine with the test images built."""
    from runner.errors import ExecutorUnavailableError
    from runner.executors.docker import DockerExecutor

    try:
        executor = DockerExecutor.connect()
    except ExecutorUnavailableError as err:
        _missing("a Docker engine", str(err))
    for image in (BUSYBOX_IMAGE, PYTHON_IMAGE):
        probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if probe.returncode != 0:
            _missing(f"test image {image}", "run scripts/setup test-env to build it")
    return executor


@pytest.fixture
def write_flow(tmp_path: Path) -> Callable[..., Path]:
    """Write a flow file (dedented) and return its path."""

    def write(text: str, name: str = "flow.yml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `flows` console script, as a user would."""
    return subprocess.run([*FLOWS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real `flows serve` process, started and stopped as users do."""

    def __init__(self, args: list[str], *, cwd: Path | None = None, log: Path,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("a") as out:
            self.proc = subprocess.Popen([*FLOWS, "serve", "--port", str(self.port), *args],
                                         cwd=cwd, stdout=out, stderr=out,
                                         env={**os.environ, **(env or {})})
        self._wait()

    def _wait(self, timeout: float = 120) -> None:  # a busy machine starts Python slowly
        import time
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # refused, reset, or timed out while the server starts
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"flows serve did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
