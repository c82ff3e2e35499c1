"""A remote repository (a clone URL) served from a bare mirror, in poll mode:
new commits pushed to the remote start runs without any webhook."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.integration.test_hooks import FLOW, commit, executions_after, git


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True,
                   capture_output=True)
    git(work, "checkout", "-q", "-b", "main")
    commit(work, ".flows/build.yml", FLOW, "flows")
    commit(work, "src/app.txt", "v1", "app")
    git(work, "push", "-q", "origin", "main")
    return origin, work


@pytest.fixture
def server(tmp_path: Path, remote: tuple[Path, Path]) -> Iterator[str]:
    origin, _ = remote
    server = Server(["--repo", f"octo/app=file://{origin}", "--data", str(tmp_path / "data"),
                     "--executor", "process", "--poll", "0.3s"], log=tmp_path / "serve.log")
    time.sleep(1)  # the first poll round records the refs as they are
    try:
        yield server.base
    finally:
        server.stop()


def test_pushes_to_the_remote_start_runs_in_poll_mode(server: str,
                                                      remote: tuple[Path, Path]) -> None:
    _, work = remote
    assert executions_after(server, 0, settle=0.5) == []  # nothing runs for what was there
    change = commit(work, "src/app.txt", "v2", "change")
    git(work, "push", "-q", "origin", "main")
    runs = executions_after(server, 1)
    assert [r["trigger"]["commit"] for r in runs] == [change]
    outputs = {tr["taskId"]: tr["outputs"] for tr in runs[0]["taskRunList"]}
    assert outputs["which"]["value"] == f"{change} main"
    git(work, "checkout", "-q", "-b", "feature")
    commit(work, "src/app.txt", "v3", "feature work")
    git(work, "push", "-q", "origin", "feature")
    assert len(executions_after(server, 1)) == 1  # branches: [main] filters the feature push
