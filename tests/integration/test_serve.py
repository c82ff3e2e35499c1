"""`flows serve` as users run it: a real process, a real git repository, real HTTP."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.waiting import CEILING, wait_until

HELLO = """\
id: hello
namespace: demo
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ inputs.who }} (v1)"
  - id: readme
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
    commands:
      - 'echo "::{\\"outputs\\":{\\"readme\\":\\"$(cat README.txt)\\"}}::"'
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: s3cret-key
"""

SLOW = """\
id: slow
namespace: demo
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ["echo napping", "sleep 30"]
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)




def call(base: str, method: str, path: str, body: Any = None,
         form: dict[str, str] | None = None) -> tuple[int, Any]:
    data, headers = None, {}
    if body is not None:
        data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if method != "GET":
        headers["X-Gitflows-Request"] = "1"  # the CSRF header API clients send (see README)
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=CEILING) as response:  # ?wait=true: a whole run
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def logged(base: str, execution_id: str, text: str) -> None:
    """Wait until a log line of the run contains text (a step printed it: its process runs)."""
    wait_until(lambda: any(text in str(line.get("message")) for line in
                           call(base, "GET", f"/api/v1/logs/{execution_id}")[1]),
               f"{text!r} in the logs of {execution_id}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "hello.yml").write_text(HELLO)
    (repo / ".flows" / "slow.yml").write_text(SLOW)
    (repo / "README.txt").write_text("committed readme")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log")
    try:
        yield server.base, repo
    finally:
        server.stop()


def test_manual_run_uses_the_committed_flow_and_files(server: tuple[str, Path]) -> None:
    base, repo = server
    # uncommitted edits are not what runs: flows and files come from the commit
    (repo / ".flows" / "hello.yml").write_text(HELLO.replace("(v1)", "(dirty)"))
    (repo / "README.txt").write_text("dirty readme")
    status, execution = call(base, "POST", "/api/v1/executions/demo/hello?wait=true",
                             form={"who": "Ada"})
    assert status == 200, execution
    assert execution["state"]["current"] == "SUCCESS"
    outputs = {tr["taskId"]: tr["outputs"] for tr in execution["taskRunList"]}
    assert outputs["greet"]["value"] == "hello Ada (v1)"
    assert outputs["readme"]["readme"] == "committed readme"
    status, again = call(base, "GET", f"/api/v1/executions/{execution['id']}")
    assert status == 200 and again["id"] == execution["id"]
    status, logs = call(base, "GET", f"/api/v1/logs/{execution['id']}")
    assert status == 200 and isinstance(logs, list)


def test_json_inputs_and_input_errors(server: tuple[str, Path]) -> None:
    base, _ = server
    status, execution = call(base, "POST", "/api/v1/executions/demo/hello?wait=true",
                             body={"who": "Bob"})
    assert status == 200
    assert execution["inputs"] == {"who": "Bob"}
    status, error = call(base, "POST", "/api/v1/executions/demo/hello", body={"nope": 1})
    assert status == 422 and "unknown input" in error["message"]
    status, error = call(base, "POST", "/api/v1/executions/demo/missing", body={})
    assert status == 404 and "not found" in error["message"]


def test_webhook_trigger_checks_the_key(server: tuple[str, Path]) -> None:
    base, _ = server
    status, _ = call(base, "POST", "/api/v1/executions/webhook/demo/hello/wrong", body={"a": 1})
    assert status == 404
    status, execution = call(base, "POST", "/api/v1/executions/webhook/demo/hello/s3cret-key",
                             body={"a": 1})
    assert status == 200 and execution["id"]


def test_kill_a_running_execution(server: tuple[str, Path]) -> None:
    base, _ = server
    status, execution = call(base, "POST", "/api/v1/executions/demo/slow", body={})
    assert status == 200
    logged(base, execution["id"], "napping")  # the step's process is running
    status, _ = call(base, "POST", f"/api/v1/executions/{execution['id']}/kill")
    assert status == 202

    def ended() -> str | None:
        state = str(call(base, "GET", f"/api/v1/executions/{execution['id']}")[1]["state"]["current"])
        return state if state in ("KILLED", "FAILED", "SUCCESS") else None

    assert wait_until(ended, "the killed run's end") == "KILLED"


def test_server_runs_are_recorded_in_the_repository_history(server: tuple[str, Path]) -> None:
    from tests.conftest import run_cli

    base, repo = server
    status, execution = call(base, "POST", "/api/v1/executions/demo/hello?wait=true", body={})
    assert status == 200 and execution["state"]["current"] == "SUCCESS"
    deadline = time.monotonic() + CEILING
    while True:  # the final event is written as the run ends
        listed = run_cli("history", "--json", cwd=repo)
        rows = [r for r in json.loads(listed.stdout or "[]") if r["run"] == execution["id"]]
        if rows and rows[0]["state"] == "SUCCESS":
            break
        assert time.monotonic() < deadline, listed.stdout + listed.stderr
        time.sleep(0.1)
    assert rows[0]["trigger"] == "manual" and rows[0]["ref"] == "main"
    assert rows[0]["commit"] == execution["trigger"]["commit"]
