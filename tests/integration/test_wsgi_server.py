"""`flows serve` on its production WSGI server (waitress, webhooks/wsgi.py): no development
server warning, log streams sent as they are written, and a graceful stop: on SIGTERM new
clients are refused while a request under way still gets its answer."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import Server

HOLD = """\
id: hold
namespace: demo
inputs:
  - id: dir
    type: STRING
tasks:
  - id: wait
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - touch '{{ inputs.dir }}/started'
      - echo waiting for the gate
      - while [ ! -e '{{ inputs.dir }}/gate' ]; do sleep 0.05; done
      - echo released
"""


def _until(done: Any, what: str, timeout: float = 60) -> None:
    """Wait for an event (a file, a refused connection) the test cannot be told about."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _refused(base: str) -> bool:
    try:
        urllib.request.urlopen(base + "/healthz", timeout=2).close()
    except urllib.error.URLError as err:
        return isinstance(err.reason, ConnectionRefusedError)
    except ConnectionError:
        return True
    return False


def _serve(tmp_path: Path) -> Server:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "hold.yml").write_text(HOLD)
    for args in (["init", "-q", "-b", "main"], ["add", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "i"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                  log=tmp_path / "serve.log")


def test_sigterm_refuses_new_clients_and_answers_the_request_under_way(tmp_path: Path) -> None:
    server = _serve(tmp_path)
    answer: dict[str, Any] = {}

    def run() -> None:
        request = urllib.request.Request(
            server.base + "/api/v1/executions/demo/hold?wait=true", method="POST",
            data=json.dumps({"dir": str(tmp_path)}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer.update(status=response.status, server=response.headers["Server"],
                          body=json.loads(response.read()))

    try:
        with urllib.request.urlopen(server.base + "/healthz", timeout=10) as response:
            assert response.headers["Server"] == "gitflows"
        waiting = threading.Thread(target=run)
        waiting.start()
        _until((tmp_path / "started").exists, "the run to start")
        server.proc.send_signal(signal.SIGTERM)
        _until(lambda: _refused(server.base), "the server to refuse new connections")
        assert server.proc.poll() is None  # still finishing the request under way
        (tmp_path / "gate").touch()
        waiting.join(60)
        assert answer["status"] == 200 and answer["body"]["state"]["current"] == "SUCCESS"
        assert server.proc.wait(30) == 0
    finally:
        server.stop()
    log = server.log.read_text()
    assert "development server" not in log.lower()
    assert "finishing the requests under way" in log
    # the access log (webhooks/wsgi.py): the answered request, without its query string
    assert "gitflows.access: POST /api/v1/executions/demo/hold 200 " in log
    assert "wait=true" not in log


def test_a_log_stream_sends_each_line_as_it_is_written(tmp_path: Path) -> None:
    server = _serve(tmp_path)
    try:
        request = urllib.request.Request(
            server.base + "/api/v1/executions/demo/hold", method="POST",
            data=json.dumps({"dir": str(tmp_path)}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            execution = json.loads(response.read())["id"]
        events = []
        with urllib.request.urlopen(f"{server.base}/api/v1/executions/{execution}/follow",
                                    timeout=60) as stream:
            for raw in stream:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    events.append(line)
                if "waiting for the gate" in line:  # sent while the run cannot end yet
                    (tmp_path / "gate").touch()
                if line == "event: end":
                    break
        assert (tmp_path / "gate").exists() and any("released" in e for e in events)
    finally:
        server.stop()
