"""GET /api/v1/executions/{id} (and its logs and follow stream) of a run this server process
does not hold answers from the repository's notes history: after a restart an API client
still gets the run, in the shape the live answer had. Real `flows serve` processes, a real
git repository."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import Server
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call
from tests.waiting import CEILING

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
    format: "hello {{ inputs.who }}"
  - id: shout
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo shouting
      - 'echo "::{\\"outputs\\":{\\"loud\\":\\"HEY\\"}}::"'
"""

BROKEN = """\
id: broken
namespace: demo
tasks:
  - id: boom
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ["echo about to fail", "exit 3"]
"""

# path segments (already URL-encoded) an attacker may send as an execution id
HOSTILE = [
    "..%2F..%2Fetc%2Fpasswd", "..", "%2E%2E", "%00", "%0A", "%1B%5B31m", "'%20OR%201=1--",
    "%25", "_", "*", "0", "A" * 5000, "%C3%A9%F0%9F%92%A3", "%FF%FE", "refs%2Fnotes%2Fflows",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "01ARZ3NDEKTSV4RRFFQ69G5FA%00", "01ARZ3NDEKTSV4RRFFQ69G5FAV%0A",
]


def tasks(execution: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(t["id"], t["taskId"], t["value"], t["parentTaskRunId"], t["state"]["current"],
             [a["state"]["current"] for a in t["attempts"]], t["outputs"])
            for t in execution["taskRunList"]]


def lines(logs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(line["taskId"], line["attemptNumber"], line["level"], line["message"]) for line in logs]


def events(base: str, path: str, last_id: str | None = None) -> list[tuple[str, Any]]:
    """A whole Server-Sent Events answer (a recorded run's stream ends): (event, data)."""
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    request = urllib.request.Request(base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=CEILING) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        text = response.read().decode()
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def status_of(base: str, path: str) -> tuple[int, Any]:
    """Status and JSON body of a GET, whatever the status (the body of an error included)."""
    try:
        with urllib.request.urlopen(base + path, timeout=CEILING) as response:
            return response.status, None  # a stream or JSON: only the status matters here
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_an_execution_answers_from_the_notes_after_a_restart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hello.yml", HELLO, "hello")
    commit(repo, ".flows/broken.yml", BROKEN, "broken")
    args = ["--data", str(tmp_path / "data"), "--executor", "process"]
    first = Server(args, cwd=repo, log=tmp_path / "first.log")
    try:
        status, ran = call(first.base, "POST", "/api/v1/executions/demo/hello?wait=true", body={"who": "Ada"})
        assert status == 200 and ran["state"]["current"] == "SUCCESS", ran
        live = call(first.base, "GET", f"/api/v1/executions/{ran['id']}")[1]
        live_logs = call(first.base, "GET", f"/api/v1/logs/{ran['id']}")[1]
        status, failed = call(first.base, "POST", "/api/v1/executions/demo/broken?wait=true", body={})
        assert status == 200 and failed["state"]["current"] == "FAILED", failed
    finally:
        first.stop()
    assert "recorded" not in live and any("shouting" in line["message"] for line in live_logs)

    second = Server(args, cwd=repo, log=tmp_path / "second.log")
    try:
        assert call(second.base, "GET", "/api/v1/executions")[1] == []  # a new process holds none
        status, answered = call(second.base, "GET", f"/api/v1/executions/{ran['id']}")
        assert status == 200, answered
        for key in ("id", "namespace", "flowId", "inputs", "trigger"):
            assert answered[key] == live[key], key
        assert answered["inputs"] == {"who": "Ada"} and answered["trigger"]["ref"] == "main"
        assert answered["state"]["current"] == "SUCCESS"
        assert [h["state"] for h in answered["state"]["histories"]] == [
            h["state"] for h in live["state"]["histories"]]
        assert answered["state"]["startDate"] and answered["state"]["endDate"]
        assert tasks(answered) == tasks(live)
        assert [t["taskId"] for t in answered["taskRunList"]] == ["greet", "shout"]
        assert answered["taskRunList"][1]["outputs"]["vars"] == {"loud": "HEY"}
        assert answered["recorded"]["detail"] is True and answered["recorded"]["hasLog"] is True
        assert "logs" not in answered  # served apart, as for a live run

        status, broken = call(second.base, "GET", f"/api/v1/executions/{failed['id']}")
        assert status == 200 and broken["state"]["current"] == "FAILED"
        assert [(t["taskId"], t["state"]["current"]) for t in broken["taskRunList"]] == [("boom", "FAILED")]

        status, logs = call(second.base, "GET", f"/api/v1/logs/{ran['id']}")
        assert status == 200 and lines(logs) == lines(live_logs)
        streamed = events(second.base, f"/api/v1/executions/{ran['id']}/follow")
        assert [data for event, data in streamed if event == "log"] == logs
        assert streamed[-1] == ("end", answered["state"])
        resumed = events(second.base, f"/api/v1/executions/{ran['id']}/follow", last_id="0")
        assert [data for event, data in resumed if event == "log"] == logs[1:]  # after event 0

        # an execution id names one run: a prefix of it, another case or another id is unknown
        for unknown in (ran["id"][:10], ran["id"].lower(), "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
            for path in (f"/api/v1/executions/{unknown}", f"/api/v1/logs/{unknown}",
                         f"/api/v1/logs/{unknown}/follow"):
                status, body = status_of(second.base, path)
                assert status == 404 and "not found" in body["message"], (path, status, body)
        # …/{namespace}/follow is the start of the flow `follow` (POST only), never an action
        assert status_of(second.base, f"/api/v1/executions/{ran['id'].lower()}/follow")[0] == 405
        for segment in HOSTILE:
            for path in (f"/api/v1/executions/{segment}", f"/api/v1/logs/{segment}",
                         f"/api/v1/executions/{segment}/follow", f"/api/v1/logs/{segment}/follow"):
                status, body = status_of(second.base, path)
                # …/executions/{a}/{b} with a namespace-like `a` (`0`, or a `/` decoded in
                # the segment) is a flow start, POST only: 405, as before any lookup
                allowed = {400, 404, 405} if path.startswith("/api/v1/executions/") else {400, 404}
                assert status in allowed, (path, status, body)
                assert isinstance(body, dict) and body["message"], (path, body)
        assert call(second.base, "GET", "/healthz")[0] == 200
    finally:
        second.stop()


SLOW = """\
id: slow
namespace: demo
tasks:
  - id: wait
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo waiting for the gate
      - 'while [ ! -f "GATE" ]; do sleep 0.05; done'
      - echo through
"""


def test_a_run_of_another_process_is_answered_and_its_stream_waits_for_its_end(tmp_path: Path) -> None:
    """`flows run --record` in a terminal beside the server: the server knows the run from its RUNNING
    note, answers it, and refuses a follow stream (409, naming the runner) until the run's
    log is recorded at its end; then the stream has every line and the final state."""
    import subprocess
    import time

    from tests.conftest import FLOWS, run_cli

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    gate = tmp_path / "gate"
    commit(repo, ".flows/slow.yml", SLOW.replace("GATE", str(gate)), "slow")
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log")
    elsewhere = subprocess.Popen([*FLOWS, "run", "--record", "--executor", "process",
                                  ".flows/slow.yml"],
                                 cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + CEILING
        running: list[dict[str, Any]] = []
        while not running:
            assert time.monotonic() < deadline, "the other process's run was never recorded"
            listed = run_cli("history", "--json", cwd=repo)
            running = [r for r in json.loads(listed.stdout or "[]") if r["state"] == "RUNNING"]
            time.sleep(0.1)
        run_id = running[0]["run"]
        status, answered = call(server.base, "GET", f"/api/v1/executions/{run_id}")
        assert status == 200 and answered["state"]["current"] == "RUNNING", answered
        assert answered["recorded"]["runner"]
        status, refused = status_of(server.base, f"/api/v1/executions/{run_id}/follow")
        assert status == 409, refused
        assert "another process" in refused["message"]
        assert answered["recorded"]["runner"] in refused["message"]
        assert call(server.base, "GET", f"/api/v1/logs/{run_id}")[0] == 200

        gate.touch()
        assert elsewhere.wait(CEILING) == 0, elsewhere.stdout.read() if elsewhere.stdout else ""
        streamed = events(server.base, f"/api/v1/executions/{run_id}/follow")
        messages = [data["message"] for event, data in streamed if event == "log"]
        assert "waiting for the gate" in messages and "through" in messages, messages
        assert streamed[-1][0] == "end" and streamed[-1][1]["current"] == "SUCCESS"
    finally:
        gate.touch()
        if elsewhere.poll() is None:
            elsewhere.kill()
        elsewhere.wait(CEILING)
        server.stop()
