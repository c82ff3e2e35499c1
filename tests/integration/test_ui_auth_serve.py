"""Authentication and CSRF protection of a real `flows serve`, as API clients and browsers
reach it: tokens, basic auth, open webhook endpoints, refusing to listen exposed without auth."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import Server, free_port, run_cli
from tests.integration.test_editing_serve import commit_all, git

HELLO = """\
id: hello
namespace: demo
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: hello
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k3y-for-the-hook
"""
TOKEN = "0123456789abcdef-test-token"


def raw(base: str, method: str, path: str, headers: dict[str, str] | None = None,
        body: Any = None) -> tuple[int, Any, dict[str, str]]:
    """No header added: exactly what a plain client (or a cross-site form) sends."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={**({"Content-Type": "application/json"} if data
                                                 else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), _names(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), _names(err.headers)


def _names(headers: Any) -> dict[str, str]:
    """Header names are case-insensitive (the server may send Www-Authenticate): lower-cased."""
    return {name.lower(): value for name, value in headers.items()}


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "hello.yml").write_text(HELLO)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "init")
    return repo


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_with_a_token_everything_but_webhooks_needs_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log", env={"GITFLOWS_UI_TOKEN": TOKEN})
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        for path in ("/", "/ui/static/app.js", "/api/v1/flows", "/api/v1/executions",
                     "/api/v1/flows/demo/hello/source"):
            status, answer, headers = raw(server.base, "GET", path)
            assert status == 401 and answer["message"].startswith("authentication required"), path
            assert headers["www-authenticate"].startswith("Basic realm=")
            assert raw(server.base, "GET", path, {"Authorization": "Bearer nope"})[0] == 401
        assert raw_status(server.base, "/", bearer) == 200
        assert raw(server.base, "GET", "/api/v1/flows", bearer)[0] == 200
        assert raw(server.base, "GET", "/api/v1/flows", {"Authorization": basic("me", TOKEN)})[0] == 200
        assert raw(server.base, "GET", "/healthz")[0] == 200
        # the Kestra-compatible API with a bearer token needs no other header (curl, scripts)
        status, run, _ = raw(server.base, "POST", "/api/v1/executions/demo/hello?wait=true", bearer, {})
        assert status == 200 and run["state"]["current"] == "SUCCESS", run
        # basic credentials are sent by browsers on their own: a write needs the CSRF header too
        browser = {"Authorization": basic("me", TOKEN), "Origin": server.base}
        assert raw(server.base, "POST", "/api/v1/executions/demo/hello", browser, {})[0] == 403
        status, _, _ = raw(server.base, "POST", "/api/v1/executions/demo/hello",
                           {**browser, "X-Gitflows-Request": "1"}, {})
        assert status == 200
        status, refused, _ = raw(server.base, "POST", "/api/v1/executions/demo/hello",
                                 {**bearer, "Origin": "https://evil.example"}, {})
        assert status == 403 and "Origin" in refused["message"]
        # webhook endpoints check their own keys and signatures, not the UI's credentials
        status, hooked, _ = raw(server.base, "POST",
                                "/api/v1/executions/webhook/demo/hello/k3y-for-the-hook", body={"a": 1})
        assert status == 200 and hooked["flowId"] == "hello", hooked
        assert raw(server.base, "POST", "/api/v1/executions/webhook/demo/hello/wrong", body={})[0] == 404
        status, answer, _ = raw(server.base, "POST", "/hooks/github", {"X-GitHub-Event": "ping"}, {})
        assert status != 401 or "authentication required" not in str(answer)
    finally:
        server.stop()


def raw_status(base: str, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_without_auth_on_localhost_writes_need_the_header_and_own_origin(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log", env={"GITFLOWS_UI_TOKEN": ""})
    try:
        assert raw(server.base, "GET", "/api/v1/flows")[0] == 200
        # what a cross-site HTML form sends: refused
        form = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
        status, refused, _ = raw(server.base, "POST", "/api/v1/executions/demo/hello", form, {})
        assert status == 403 and "X-Gitflows-Request: 1" in refused["message"]
        # curl and scripts (no browser headers) start runs as with Kestra's API
        assert raw(server.base, "POST", "/api/v1/executions/demo/hello", body={})[0] == 200
        csrf = {"X-Gitflows-Request": "1"}
        assert raw(server.base, "POST", "/api/v1/executions/demo/hello", csrf, {})[0] == 200
        own = {**csrf, "Origin": server.base}
        assert raw(server.base, "POST", "/api/v1/executions/demo/hello", own, {})[0] == 200
        foreign = {**csrf, "Origin": "http://evil.example"}
        assert raw(server.base, "POST", "/api/v1/executions/demo/hello", foreign, {})[0] == 403
        assert raw(server.base, "DELETE", "/api/v1/flows/demo/hello?branch=main&base=HEAD",
                   {"Sec-Fetch-Site": "same-site"})[0] == 403
        # DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends its own Host
        rebound = {"Host": f"evil.example:{server.port}"}
        assert raw(server.base, "GET", "/api/v1/flows", rebound)[0] == 403
    finally:
        server.stop()


def test_serve_refuses_to_listen_exposed_without_auth(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    done = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--data",
                   str(tmp_path / "data"), cwd=repo, env={"GITFLOWS_UI_TOKEN": ""}, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "refusing to listen on 0.0.0.0 without authentication" in done.stderr
    assert "--insecure-no-auth" in done.stderr
    for args, env in ((["--insecure-no-auth"], {"GITFLOWS_UI_TOKEN": ""}),
                      ([], {"GITFLOWS_UI_TOKEN": TOKEN})):
        server = Server(["--host", "0.0.0.0", "--data", str(tmp_path / "data"), *args], cwd=repo,
                        log=tmp_path / "serve.log", env=env)
        try:
            status = raw(server.base, "GET", "/api/v1/flows")[0]
            assert status == (401 if env["GITFLOWS_UI_TOKEN"] else 200)
        finally:
            server.stop()
