"""io.kestra.plugin.core.http.Trigger against a real HTTP server on 127.0.0.1: the poll and its
responseCondition directly, then a real `flows serve` that starts one run with the response."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.plugins.http_trigger import HttpTriggerError, poll_trigger
from runner.ports.polling import TriggerContext
from tests.conftest import free_port, run_cli
from tests.integration.object_store_helpers import lines, repo_with, serve, wait_for

TOKEN = "api-token-5d1e-never-shown"


class StatusApi:
    """Answers GET /status with the status and body the test sets; records each request."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, Any]] = (503, {"state": "busy"})
        self.once: tuple[int, dict[str, Any]] | None = None  # the next answer only
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append({k.lower(): v for k, v in self.headers.items()})
                status, body = owner.once or owner.answer
                owner.once = None
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Build", "42")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[StatusApi]:
    stand_in = StatusApi()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def _context(tmp_path: Path, **props: Any) -> TriggerContext:
    return TriggerContext("demo", "watch_api", "poll", props, None, tmp_path, masked=frozenset({TOKEN}))


def test_no_run_while_the_condition_does_not_hold(tmp_path: Path, api: StatusApi) -> None:
    assert poll_trigger(_context(tmp_path, uri=api.url)).events == ()  # 503: not < 400
    api.answer = (200, {"state": "busy"})
    ready = "{{ response.statusCode == 200 and fromJson(response.body).state == 'ready' }}"
    assert poll_trigger(_context(tmp_path, uri=api.url, responseCondition=ready)).events == ()
    api.answer = (200, {"state": "ready"})
    [event] = poll_trigger(_context(tmp_path, uri=api.url, responseCondition=ready)).events
    assert event.variables["code"] == 200 and json.loads(event.variables["body"]) == {"state": "ready"}
    assert event.variables["headers"]["X-Build"] == ["42"] and event.variables["uri"] == api.url


def test_headers_and_basic_auth_are_sent(tmp_path: Path, api: StatusApi) -> None:
    api.answer = (200, {})
    poll_trigger(_context(tmp_path, uri=api.url, headers={"X-Api-Key": TOKEN}))
    poll_trigger(_context(tmp_path, uri=api.url, auth={"username": "ada", "password": TOKEN}))
    assert api.requests[0]["x-api-key"] == TOKEN
    assert base64.b64decode(api.requests[1]["authorization"].split()[1]).decode() == f"ada:{TOKEN}"


def test_errors_hide_secrets(tmp_path: Path) -> None:
    with pytest.raises(HttpTriggerError) as failed:
        poll_trigger(_context(tmp_path, uri=f"http://127.0.0.1:{free_port()}/x?key={TOKEN}"))
    assert TOKEN not in str(failed.value) and "127.0.0.1" in str(failed.value)
    with pytest.raises(HttpTriggerError, match="uri must be http"):
        poll_trigger(_context(tmp_path, uri="file:///etc/passwd"))


def test_a_bad_condition_is_an_error_not_a_run(tmp_path: Path, api: StatusApi) -> None:
    api.answer = (200, {})
    with pytest.raises(HttpTriggerError, match="responseCondition"):
        poll_trigger(_context(tmp_path, uri=api.url, responseCondition="{{ response.nope.deeper }}"))


FLOW = """\
id: on_ready
namespace: demo
triggers:
  - id: poll
    type: io.kestra.plugin.core.http.Trigger
    interval: PT0.3S
    uri: {uri}
    headers:
      Authorization: "Bearer {{{{ secret('API_TOKEN') }}}}"
    responseCondition: "{{{{ response.statusCode == 200 }}}}"
tasks:
  - id: note
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo '{{{{ trigger.code }}}} {{{{ fromJson(trigger.body).version }}}}' >> {results}
"""


def test_serve_starts_one_run_with_the_response(tmp_path: Path, api: StatusApi) -> None:
    results = tmp_path / "results.txt"
    repo = repo_with(tmp_path, {"on_ready": FLOW.format(uri=api.url, results=results)})
    assert run_cli("validate", str(repo / ".flows" / "on_ready.yml")).returncode == 0
    env = {"SECRET_API_TOKEN": base64.b64encode(TOKEN.encode()).decode()}
    server = serve(tmp_path, repo, free_port(), "serve", env)
    try:
        wait_for(lambda: len(api.requests) >= 2, "polls while the API answers 503")
        assert not results.exists()
        api.once = (200, {"version": "1.4.2"})
        assert lines(results, 1) == ["200 1.4.2"]
        seen = len(api.requests)
        wait_for(lambda: len(api.requests) >= seen + 3, "more polls after the one that fired")
        assert results.read_text().splitlines() == ["200 1.4.2"]
        assert all(r["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    finally:
        server.stop()
    assert TOKEN not in (tmp_path / "serve.log").read_text()
