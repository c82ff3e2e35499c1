"""kill -9 of the server while a pushed run is running: after a restart the run is taken
over and finishes once; the dead attempt is in the history as KILLED."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.conftest import Server, free_port, run_cli
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)

SLOW = """\
id: slow
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ["sleep 2", "echo done"]
"""


def start(tmp_path: Path, config: Path, port: int, name: str) -> Server:
    return Server(["--config", str(config), "--data", str(tmp_path / "data"), "--executor",
                   "process"], port=port, log=tmp_path / f"{name}.log",
                  env={"HELLO_SECRET": SECRET})


def test_a_run_survives_kill_9_of_the_server(
        tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    first = commit(repo, ".flows/slow.yml", SLOW, "flow")
    second = commit(repo, "x.txt", "x", "change")
    config = tmp_path / "serve.yml"
    config.write_text(f"queue_lease: 2s\nrepos:\n  - name: octo/hello\n    location: {repo}\n"
                      "    provider: github\n    webhook_secret_env: HELLO_SECRET\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, config, port, "first")
    status, _ = deliver(base, push_payload(octokit_examples, first, second, "change"))
    assert status == 202
    deadline = time.monotonic() + 20
    while not any(e["state"]["current"] == "RUNNING"
                  for e in call(base, "GET", "/api/v1/executions")[1]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    dead = call(base, "GET", "/api/v1/executions")[1][0]["id"]
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)

    server = start(tmp_path, config, port, "second")
    try:
        deadline = time.monotonic() + 30
        while True:
            runs = call(base, "GET", "/api/v1/executions")[1]
            if runs and runs[0]["state"]["current"] == "SUCCESS":
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.1)
        time.sleep(3)  # nothing else may start: the run was queued once
        runs = call(base, "GET", "/api/v1/executions")[1]
        assert len(runs) == 1 and runs[0]["id"] != dead
        rows = json.loads(run_cli("history", "--json", cwd=repo).stdout)
        states = {r["run"]: r["state"] for r in rows}
        assert states == {dead: "KILLED", runs[0]["id"]: "SUCCESS"}
    finally:
        server.stop()


def test_a_newer_push_to_the_branch_cancels_the_older_run(
        tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    first = commit(repo, ".flows/slow.yml", SLOW.replace("sleep 2", "sleep 20"), "flow")
    second = commit(repo, "x.txt", "x", "change")
    third = commit(repo, "y.txt", "y", "another change")
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n"
                      "    provider: github\n    webhook_secret_env: HELLO_SECRET\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, config, port, "serve")
    try:
        assert deliver(base, push_payload(octokit_examples, first, second, "change"))[0] == 202
        deadline = time.monotonic() + 20
        while not any(e["state"]["current"] == "RUNNING"
                      for e in call(base, "GET", "/api/v1/executions")[1]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert deliver(base, push_payload(octokit_examples, second, third, "again"))[0] == 202
        while True:
            runs = call(base, "GET", "/api/v1/executions")[1]
            if len(runs) == 2 and runs[1]["state"]["current"] == "KILLED":
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.1)
        assert runs[1]["trigger"]["commit"] == second
        assert runs[0]["trigger"]["commit"] == third
        assert runs[0]["state"]["current"] == "RUNNING"
    finally:
        server.stop()
