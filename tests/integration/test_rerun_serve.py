"""Re-runs through a real `flows serve`: the same flow at the same commit with the same
inputs, and from a failed task with the earlier tasks' outputs reused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runner.engine.kv import FileKVStore
from tests.conftest import Server
from tests.integration.test_editing_serve import api, commit_all, git
from tests.waiting import CEILING

FLAKY = """\
id: flaky
namespace: demo
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo ran >> "COUNTER"
      - 'echo "::{\\"outputs\\":{\\"token\\":\\"{{ execution.id }}\\"}}::"'
  - id: second
    type: io.kestra.plugin.core.debug.Return
    format: "{{ kv('fixed') }} {{ outputs.first.token }} {{ inputs.who }} (v1)"
  - id: third
    type: io.kestra.plugin.core.log.Log
    message: "trigger {{ trigger.type | default('none') }} {{ trigger.original | default('none') }}"
"""


def finished(base: str, execution_id: str, timeout: float = CEILING) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, execution = api(base, "GET", f"/api/v1/executions/{execution_id}")
        assert status == 200, execution
        if execution["state"]["current"] in ("SUCCESS", "WARNING", "FAILED", "KILLED"):
            return dict(execution)
        assert time.monotonic() < deadline, execution
        time.sleep(0.1)


def task(execution: dict[str, Any], task_id: str) -> dict[str, Any]:
    found = [t for t in execution["taskRunList"] if t["taskId"] == task_id]
    assert len(found) == 1, execution
    return dict(found[0])


def test_rerun_from_the_failed_task_and_rerun_at_the_same_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    counter = tmp_path / "counter.txt"
    (repo / ".flows" / "flaky.yml").write_text(FLAKY.replace("COUNTER", str(counter)))
    git(repo, "init", "-q", "-b", "main")
    commit = commit_all(repo, "init")
    data = tmp_path / "data"
    server = Server(["--data", str(data), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log")
    try:
        status, first = api(server.base, "POST", "/api/v1/executions/demo/flaky?wait=true",
                            {"who": "Ada"})
        assert status == 200 and first["state"]["current"] == "FAILED", first
        assert task(first, "second")["state"]["current"] == "FAILED"
        assert counter.read_text() == "ran\n"
        # the flow changes on the branch meanwhile: re-runs stay at the first run's commit
        flow = repo / ".flows" / "flaky.yml"
        flow.write_text(flow.read_text().replace("(v1)", "(v2)"))
        commit_all(repo, "v2")
        FileKVStore(data / "kv").set("demo", "fixed", "fixed")  # what task 2 lacked

        status, error = api(server.base, "POST",
                            f"/api/v1/executions/{first['id']}/rerun?fromTask=nope")
        assert status == 422 and "not a top-level task" in error["message"]
        status, started = api(server.base, "POST", f"/api/v1/executions/{first['id']}/rerun",
                              {"fromTask": "second"})
        assert status == 200 and started["id"] != first["id"], started
        again = finished(server.base, started["id"])
        assert again["state"]["current"] == "SUCCESS", again
        assert counter.read_text() == "ran\n"  # task 1 did not run again
        reused = task(again, "first")
        assert reused["attempts"] == [] and reused["outputs"]["token"] == first["id"]
        assert task(again, "second")["outputs"]["value"] == f"fixed {first['id']} Ada (v1)"
        assert again["trigger"]["commit"] == commit and again["inputs"] == {"who": "Ada"}
        status, logs = api(server.base, "GET", f"/api/v1/logs/{again['id']}")
        messages = [line["message"] for line in logs]
        assert f"trigger rerun {first['id']}" in messages, messages
        assert "not run again: outputs reused from the earlier run" in messages

        # a whole re-run: every task runs again, same inputs, same commit
        status, started = api(server.base, "POST", f"/api/v1/executions/{again['id']}/rerun")
        assert status == 200, started
        whole = finished(server.base, started["id"])
        assert whole["state"]["current"] == "SUCCESS" and counter.read_text() == "ran\nran\n"
        assert task(whole, "second")["outputs"]["value"] == f"fixed {whole['id']} Ada (v1)"
        rows = api(server.base, "GET", "/api/v1/history?flow=demo.flaky")[1]
        assert {row["run"]: row["trigger"] for row in rows}[whole["id"]] == "rerun"

        status, missing = api(server.base, "POST", "/api/v1/executions/01NOPE/rerun")
        assert status == 404 and "not known to this server" in missing["message"]
    finally:
        server.stop()


SECRETIVE = """\
id: secretive
namespace: demo
inputs:
  - id: password
    type: SECRET
tasks:
  - id: use
    type: io.kestra.plugin.core.log.Log
    message: "got {{ inputs.password }}"
"""


def test_rerun_after_a_restart_from_the_history(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    counter = tmp_path / "counter.txt"
    (repo / ".flows" / "flaky.yml").write_text(FLAKY.replace("COUNTER", str(counter)))
    (repo / ".flows" / "secretive.yml").write_text(SECRETIVE)
    git(repo, "init", "-q", "-b", "main")
    commit = commit_all(repo, "init")
    data = tmp_path / "data"
    args = ["--data", str(data), "--executor", "process"]
    first_server = Server(args, cwd=repo, log=tmp_path / "first.log")
    try:
        status, first = api(first_server.base, "POST", "/api/v1/executions/demo/flaky?wait=true",
                            {"who": "Ada"})
        assert status == 200 and first["state"]["current"] == "FAILED", first
        status, secret = api(first_server.base, "POST",
                             "/api/v1/executions/demo/secretive?wait=true", {"password": "pw-1234"})
        assert status == 200 and secret["state"]["current"] == "SUCCESS", secret
    finally:
        first_server.stop()
    flow = repo / ".flows" / "flaky.yml"
    flow.write_text(flow.read_text().replace("(v1)", "(v2)"))
    commit_all(repo, "v2")
    FileKVStore(data / "kv").set("demo", "fixed", "fixed")

    server = Server(args, cwd=repo, log=tmp_path / "second.log")
    try:
        status, kept = api(server.base, "GET", f"/api/v1/executions/{first['id']}")  # from the notes
        assert status == 200 and kept["state"]["current"] == "FAILED" and kept["recorded"]["detail"]
        status, started = api(server.base, "POST",
                              f"/api/v1/executions/{first['id']}/rerun?fromTask=second")
        assert status == 200, started
        again = finished(server.base, started["id"])
        assert again["state"]["current"] == "SUCCESS", again
        assert counter.read_text() == "ran\n"  # task 1's recorded outputs were reused
        assert task(again, "first")["outputs"]["token"] == first["id"]
        assert task(again, "second")["outputs"]["value"] == f"fixed {first['id']} Ada (v1)"
        assert again["trigger"]["commit"] == commit and again["inputs"] == {"who": "Ada"}

        status, started = api(server.base, "POST", f"/api/v1/executions/{first['id']}/rerun")
        assert status == 200, started
        whole = finished(server.base, started["id"])
        assert whole["state"]["current"] == "SUCCESS" and counter.read_text() == "ran\nran\n"
        assert task(whole, "second")["outputs"]["value"] == f"fixed {whole['id']} Ada (v1)"

        status, refused = api(server.base, "POST", f"/api/v1/executions/{secret['id']}/rerun")
        assert status == 409 and "password" in refused["message"] \
            and "secret" in refused["message"], refused
        recorded = api(server.base, "GET", f"/api/v1/history/{secret['id']}/execution")[1]
        assert recorded["inputs"] == {"password": "******"}
        status, missing = api(server.base, "POST", "/api/v1/executions/01NOPE/rerun")
        assert status == 404 and "not known to this server" in missing["message"]
    finally:
        server.stop()
