"""kill -9 of the server while a pushed run is running: after a restart the run is taken
over under the same execution id and finishes once; the take-over is in the history."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from runner.history.notes import NotesStore
from tests.conftest import Server, free_port, run_cli
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import Gate, wait_until

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
    commands: ['HOLD', "echo done"]
"""


def slow(gate: Gate) -> str:
    """SLOW, whose step holds until the test opens the gate: running for as long as it needs."""
    return SLOW.replace("HOLD", gate.hold)


def start(tmp_path: Path, config: Path, port: int, name: str) -> Server:
    return Server(["--config", str(config), "--data", str(tmp_path / "data"), "--executor",
                   "process"], port=port, log=tmp_path / f"{name}.log",
                  env={"HELLO_SECRET": SECRET})


def runs(base: str) -> list[dict[str, Any]]:
    return list(call(base, "GET", "/api/v1/executions")[1])


def execution(base: str, execution_id: str) -> dict[str, Any]:
    return dict(call(base, "GET", f"/api/v1/executions/{execution_id}")[1])


def test_a_run_survives_kill_9_of_the_server(
        tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    gate = Gate(tmp_path / "gate")
    first = commit(repo, ".flows/slow.yml", slow(gate), "flow")
    second = commit(repo, "x.txt", "x", "change")
    config = tmp_path / "serve.yml"
    config.write_text(f"queue_lease: 2s\nrepos:\n  - name: octo/hello\n    location: {repo}\n"
                      "    provider: github\n    webhook_secret_env: HELLO_SECRET\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(tmp_path, config, port, "first")
    status, _ = deliver(base, push_payload(octokit_examples, first, second, "change"))
    assert status == 202
    wait_until(lambda: any(e["state"]["current"] == "RUNNING" for e in runs(base)), "the run to start")
    dead = runs(base)[0]["id"]
    os.kill(server.proc.pid, signal.SIGKILL)  # the step is held: the run is surely mid-way
    server.proc.wait(10)
    gate.open()

    server = start(tmp_path, config, port, "second")
    try:
        wait_until(lambda: runs(base) and runs(base)[0]["state"]["current"] == "SUCCESS",
                   "the taken-over run to succeed")
        time.sleep(3)  # nothing else may start: the run was queued once
        taken = runs(base)
        # the same execution: the id the API handed out ends in the run's real final state
        assert [run["id"] for run in taken] == [dead]
        assert execution(base, dead)["state"]["current"] == "SUCCESS"
        rows = json.loads(run_cli("history", "--json", cwd=repo).stdout)
        assert {r["run"]: r["state"] for r in rows} == {dead: "SUCCESS"}
        events = NotesStore(repo).run(dead)  # the take-over is recorded, below the final state
        assert [e.state for e in sorted(events, key=lambda e: e.seq)][-2:] == [
            "RUNNING", "SUCCESS"] and "RESTARTED" in [e.state for e in events]
    finally:
        server.stop()


def test_a_newer_push_to_the_branch_cancels_the_older_run(
        tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    gate = Gate(tmp_path / "gate")  # never opened before the end: both runs hold until then
    first = commit(repo, ".flows/slow.yml", slow(gate), "flow")
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
        wait_until(lambda: any(e["state"]["current"] == "RUNNING" for e in runs(base)),
                   "the first run to start")
        assert deliver(base, push_payload(octokit_examples, second, third, "again"))[0] == 202

        def cancelled() -> list[dict[str, Any]] | None:
            found = runs(base)
            states = [run["state"]["current"] for run in found]
            # the newer run may still be CREATED for a moment after the older one is killed
            return found if states == ["RUNNING", "KILLED"] else None

        both = wait_until(cancelled, "the older run to be cancelled and the newer one to run")
        assert both[1]["trigger"]["commit"] == second
        assert both[0]["trigger"]["commit"] == third
    finally:
        gate.open()
        server.stop()
