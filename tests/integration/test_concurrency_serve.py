"""Flow `concurrency` in a real `flows serve`: the limit holds across the runs it starts
(each run has its own Engine; they share the server's FlowSlots)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.integration.test_serve import call
from tests.waiting import CEILING

# The step writes start/end lines around a gate: it holds its slot until the test opens the
# gate, so "the first one runs while the others wait" does not depend on timing.
FLOW = """\
id: {id}
namespace: demo
concurrency:
  limit: 1
  behavior: {behavior}
inputs:
  - id: log
    type: STRING
  - id: gate
    type: STRING
tasks:
  - id: step
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "start {{{{ execution.id }}}}" >> "{{{{ inputs.log }}}}"
      - while [ ! -f "{{{{ inputs.gate }}}}" ]; do sleep 0.05; done
      - sleep 0.2
      - echo "end {{{{ execution.id }}}}" >> "{{{{ inputs.log }}}}"
"""
TERMINAL = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    for flow_id, behavior in (("queued", "QUEUE"), ("cancelled", "CANCEL"), ("failed", "FAIL")):
        (repo / ".flows" / f"{flow_id}.yml").write_text(FLOW.format(id=flow_id,
                                                                    behavior=behavior))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log")
    try:
        yield server.base
    finally:
        server.stop()


def _start(base: str, flow_id: str, log: Path, gate: Path) -> str:
    status, execution = call(base, "POST", f"/api/v1/executions/demo/{flow_id}",
                             body={"log": str(log), "gate": str(gate)})
    assert status == 200, execution
    return str(execution["id"])


def _state(base: str, execution_id: str) -> str:
    status, execution = call(base, "GET", f"/api/v1/executions/{execution_id}")
    assert status == 200, execution
    return str(execution["state"]["current"])


def _wait(base: str, execution_id: str, wanted: set[str]) -> str:
    deadline = time.monotonic() + CEILING
    while (state := _state(base, execution_id)) not in wanted:
        assert time.monotonic() < deadline, f"{execution_id} stayed {state}, wanted {wanted}"
        time.sleep(0.05)
    return state


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _wait_line(log: Path, line: str) -> None:
    deadline = time.monotonic() + CEILING
    while line not in _lines(log):
        assert time.monotonic() < deadline, f"no {line!r} in {_lines(log)}"
        time.sleep(0.05)


def test_queue_runs_one_at_a_time_in_order_and_a_killed_queued_run_leaves(
        server: str, tmp_path: Path) -> None:
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    first = _start(server, "queued", log, gate)
    _wait_line(log, f"start {first}")
    queued = []
    for _ in range(3):  # each one queued before the next arrives: their order is known
        queued.append(_start(server, "queued", log, gate))
        _wait(server, queued[-1], {"QUEUED"})
    second, third, doomed = queued
    assert _state(server, first) == "RUNNING"
    assert _lines(log) == [f"start {first}"]

    status, _ = call(server, "POST", f"/api/v1/executions/{doomed}/kill")
    assert status == 202
    assert _wait(server, doomed, TERMINAL) == "KILLED"
    gate.touch()
    for execution_id in (first, second, third):
        assert _wait(server, execution_id, TERMINAL) == "SUCCESS"

    # never overlapping, and in the order they were queued; the killed one never started
    assert _lines(log) == [f"{edge} {run}" for run in (first, second, third)
                           for edge in ("start", "end")]
    for execution_id in (second, third):
        _, execution = call(server, "GET", f"/api/v1/executions/{execution_id}")
        states = [h["state"] for h in execution["state"]["histories"]]
        assert states.index("QUEUED") < states.index("RUNNING") < states.index("SUCCESS")
    _, killed = call(server, "GET", f"/api/v1/executions/{doomed}")
    assert "RUNNING" not in [h["state"] for h in killed["state"]["histories"]]


@pytest.mark.parametrize(("flow_id", "ends"), [("cancelled", "CANCELLED"),
                                                ("failed", "FAILED")])
def test_cancel_and_fail_end_the_extra_runs_without_running_them(
        server: str, tmp_path: Path, flow_id: str, ends: str) -> None:
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    first = _start(server, flow_id, log, gate)
    _wait(server, first, {"RUNNING"})
    extra = [_start(server, flow_id, log, gate) for _ in range(2)]
    for execution_id in extra:
        assert _wait(server, execution_id, TERMINAL) == ends
    assert _state(server, first) == "RUNNING"
    gate.touch()
    assert _wait(server, first, TERMINAL) == "SUCCESS"
    assert _lines(log) == [f"start {first}", f"end {first}"]
