"""Hostile requests against a real `flows serve` with token and basic auth configured: what is
exempt from auth follows the route, not a path prefix; malformed parameters, branch names and
deliveries are 400s (never a 500 and a traceback); bodies over the limits are 413s; the UI
cannot be framed; nothing a request carries can forge a server log line."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import select
import socket
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, free_port, run_cli
from tests.integration.test_editing_serve import commit_all, git
from tests.integration.test_ui_auth_serve import HELLO, TOKEN, basic, raw
from tests.waiting import CEILING

DEPLOY = """\
id: deploy
namespace: webhook
tasks:
  - id: go
    type: io.kestra.plugin.core.debug.Return
    format: deployed
"""
SECRET = "hook-secret-for-tests"
PASSWORD = "pa55word-for-ada"
LIMIT = 20_000  # max_body and max_delivery of the served config
BEARER = {"Authorization": f"Bearer {TOKEN}"}
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


@dataclass
class Served:
    base: str
    repo: Path
    log: Path


def _repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "hello.yml").write_text(HELLO)
    (repo / ".flows" / "deploy.yml").write_text(DEPLOY)
    (repo / "static").mkdir()
    (repo / "static" / "notes.txt").write_text("not for the web")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "init")
    return repo


def _serve(root: Path, extra: str = "") -> Generator[Served, None, None]:
    repo = _repo(root)
    config = root / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n    provider: github\n"
                      f"    webhook_secret_env: HELLO_SECRET\nui_auth:\n  user: ada\n{extra}")
    log = root / "serve.log"
    server = Server(["--config", str(config), "--data", str(root / "data"), "--executor",
                     "process"], cwd=repo, log=log,
                    env={"HELLO_SECRET": SECRET, "GITFLOWS_UI_TOKEN": TOKEN,
                         "GITFLOWS_UI_PASSWORD": PASSWORD})
    try:
        yield Served(server.base, repo, log)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("hardening"))


def send(base: str, method: str, path: str, data: bytes,
         headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)


def executions(base: str) -> list[dict[str, Any]]:
    status, found, _ = raw(base, "GET", "/api/v1/executions", BEARER)
    assert status == 200, found
    return list(found)


def test_a_flow_of_namespace_webhook_is_not_exempt_from_auth_or_csrf(served: Served) -> None:
    before = len(executions(served.base))
    # a cross-site form posting to the manual start route of webhook.deploy, no credentials
    status, answer, _ = raw(served.base, "POST", "/api/v1/executions/webhook/deploy", EVIL, {})
    assert status == 401 and answer["message"].startswith("authentication required"), answer
    # basic credentials a browser attaches on its own do not pass the CSRF rule either
    browser = {**EVIL, "Authorization": basic("ada", PASSWORD)}
    assert raw(served.base, "POST", "/api/v1/executions/webhook/deploy", browser, {})[0] == 403
    assert len(executions(served.base)) == before  # nothing started
    status, run, _ = raw(served.base, "POST", "/api/v1/executions/webhook/deploy?wait=true",
                         BEARER, {})
    assert status == 200 and run["namespace"] == "webhook" and run["flowId"] == "deploy", run
    # the real webhook trigger route stays open: its key is the credential
    status, hooked, _ = raw(served.base, "POST",
                            "/api/v1/executions/webhook/demo/hello/k3y-for-the-hook", EVIL, {})
    assert status == 200 and hooked["flowId"] == "hello", hooked


def test_other_routes_near_the_exempt_ones_need_auth(served: Served) -> None:
    for method, path in (("GET", "/healthz/"), ("GET", "/hooks/github"), ("GET", "/metrics"),
                         ("GET", "/static/notes.txt"), ("GET", "/ui/static/app.js"),
                         ("POST", "/api/v1/executions/webhook/demo/hello/k/kill")):
        status, _, _ = raw(served.base, method, path)
        assert status == 401, (method, path, status)
    assert raw(served.base, "GET", "/healthz")[0] == 200
    # Flask's default static route would serve files of the working directory: there is none
    assert raw(served.base, "GET", "/static/notes.txt", BEARER)[0] == 404


MALFORMED = [
    ("GET", "/api/v1/history?limit=abc", "limit"),
    ("GET", "/api/v1/history?limit=99999999999", "limit"),
    ("GET", "/api/v1/history?limit=%D9%A3", "limit"),
    ("GET", "/api/v1/executions?size=abc", "size"),
    ("GET", "/api/v1/executions?size=-5", "size"),
    ("GET", "/api/v1/executions/search?page=-1", "page"),
    ("GET", "/api/v1/executions/search?limit=abc", "limit"),
    ("GET", "/api/v1/executions/search?limit=0", "limit"),
    ("GET", "/api/v1/flows?ref=%00", "ref"),
    ("GET", "/api/v1/flows/overview?ref=main%0A", "ref"),
    ("GET", "/api/v1/flows/demo/hello/source?ref=%00", "ref"),
    ("GET", "/api/v1/history?ref=%1b%5b2J", "ref"),
    ("POST", "/api/v1/executions/demo/hello?ref=main%0Aforged", "ref"),
    ("POST", "/api/v1/executions/webhook/demo/hello/k3y-for-the-hook?ref=%00", "ref"),
    ("GET", "/api/v1/executions/%00", "execution_id"),
    ("DELETE", "/api/v1/flows/demo/hello?branch=main&base=%00", "base"),
]


@pytest.mark.parametrize("method,path,name", MALFORMED)
def test_malformed_parameters_are_400_json(served: Served, method: str, path: str,
                                           name: str) -> None:
    status, answer, headers = raw(served.base, method, path, BEARER,
                                  {} if method == "POST" else None)
    assert status == 400 and name in answer["message"], (path, status, answer)
    assert headers["content-type"] == "application/json"
    assert "Traceback" not in served.log.read_text()


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": hashlib.sha256(body).hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body,
                                                        hashlib.sha256).hexdigest()}


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"payload=%7B", b""])
def test_a_signed_malformed_delivery_is_400_an_unsigned_one_401(served: Served,
                                                                 body: bytes) -> None:
    status, answer, _ = send(served.base, "POST", "/hooks/github", body, _signed(body))
    assert status == 400 and "JSON" in answer["message"], answer
    assert send(served.base, "POST", "/hooks/github", body, _signed(body, "wrong"))[0] == 401
    unsigned = {k: v for k, v in _signed(body).items() if k != "X-Hub-Signature-256"}
    assert send(served.base, "POST", "/hooks/github", body, unsigned)[0] == 401


def test_a_value_from_a_request_cannot_forge_a_log_line(served: Served) -> None:
    forged = "FORGED-LINE 2099-01-01 00:00:00,000 ERROR gitflows: all runs deleted"
    body = json.dumps({"ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40,
                       "repository": {"full_name": f"octo/x\n{forged}\r\u2028{forged}"}}).encode()
    headers = {k: v for k, v in _signed(body, "unknown").items()}
    assert send(served.base, "POST", "/hooks/github", body, headers)[0] == 401
    raw(served.base, "GET", f"/api/v1/flows?ref=x%0A{forged.replace(' ', '%20')}", BEARER)
    raw(served.base, "GET", "/api/v1/flows/x%0A" + forged.replace(" ", "%20"), BEARER)
    lines = served.log.read_text().splitlines()
    assert any("FORGED-LINE" in line for line in lines)  # it is logged, escaped
    assert not [line for line in lines if line.startswith("FORGED-LINE")], lines[-5:]


def test_the_ui_cannot_be_framed_and_responses_are_hardened(served: Served) -> None:
    for method, path, headers in (("GET", "/", BEARER), ("GET", "/api/v1/flows", BEARER),
                                  ("GET", "/api/v1/flows", {}), ("GET", "/healthz", {}),
                                  ("GET", "/ui/static/app.js", BEARER)):
        request = urllib.request.Request(served.base + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                got = response.headers
        except urllib.error.HTTPError as err:
            got = err.headers
        assert got["X-Frame-Options"] == "DENY", path
        csp = got["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, csp
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp, csp
        assert got["X-Content-Type-Options"] == "nosniff"
        assert got["Referrer-Policy"] == "no-referrer"


BAD_BRANCHES = ["@", "refs/notes/flows", "refs/heads/main", "HEAD", "-f", "a..b", "../../x",
                "x.lock", "a b", "@{-1}", "feature/", ".hidden", "a\nb"]


@pytest.mark.parametrize("branch", BAD_BRANCHES)
def test_saves_refuse_branch_names_outside_refs_heads(served: Served, branch: str) -> None:
    status, source, _ = raw(served.base, "GET", "/api/v1/flows/demo/hello/source", BEARER)
    assert status == 200, source
    refs = git(served.repo, "for-each-ref", "--format=%(refname) %(objectname)")
    text = source["source"].replace("format: hello", "format: changed")
    saves = [("PUT", "/api/v1/flows/demo/hello/source",
              {"branch": branch, "base": source["commit"], "source": text}),
             ("PUT", "/api/v1/flows/demo/hello/source",
              {"branch": "main", "new_branch": branch, "base": source["commit"], "source": text}),
             ("POST", "/api/v1/flows", {"branch": branch, "source": DEPLOY.replace("deploy",
                                                                                 "other")}),
             ("DELETE", "/api/v1/flows/demo/hello",
              {"branch": branch, "base": source["commit"]})]
    for method, path, body in saves:
        status, answer, _ = raw(served.base, method, path, BEARER, body)
        assert status == 400 and "branch name" in answer["message"], (method, body, answer)
    assert git(served.repo, "for-each-ref", "--format=%(refname) %(objectname)") == refs


def test_bodies_over_the_limits_are_413_json(tmp_path: Path) -> None:
    served = next(serving := _serve(tmp_path, f"max_body: {LIMIT}\nmax_delivery: {LIMIT}\n"))
    try:
        _over_the_limits(served)
        _refused_as_it_comes(served)
    finally:
        serving.close()


def _refused_as_it_comes(served: Served) -> None:
    """A sender announcing, or streaming, far more than the limits gets its 413 before the
    server has read (and spooled to disk) the body: it cannot fill the server's disk."""
    host, port = served.base.removeprefix("http://").split(":")
    head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection((host, int(port)), timeout=CEILING) as conn:
        conn.sendall(f"{head}Content-Length: {500 * 10 ** 6}\r\n\r\n{{".encode())  # 500 MB promised
        assert conn.recv(100).startswith(b"HTTP/1.1 413 ")
    chunk = b"%x\r\n%s\r\n" % (LIMIT, b"x" * LIMIT)
    sent = 0
    with socket.create_connection((host, int(port)), timeout=CEILING) as conn:
        conn.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        with contextlib.suppress(ConnectionError):  # the server closes on us: what we want
            while sent < 2000 * LIMIT and not select.select([conn], [], [], 0)[0]:
                conn.sendall(chunk)
                sent += LIMIT
        assert conn.recv(100).startswith(b"HTTP/1.1 413 ")
    # cut off at twice the limit (what the socket buffers held came on), not after 20 MB
    assert sent < 1000 * LIMIT


def _over_the_limits(served: Served) -> None:
    big = json.dumps({"who": "x" * LIMIT}).encode()
    for path in ("/api/v1/executions/demo/hello", "/api/v1/flows/validate",
                 "/api/v1/executions/webhook/demo/hello/k3y-for-the-hook"):
        status, answer, _ = send(served.base, "POST", path, big,
                                 {**BEARER, "Content-Type": "application/json"})
        assert status == 413 and answer["message"] == f"request body larger than {LIMIT} bytes", \
            (path, answer)
    status, answer, _ = send(served.base, "POST", "/hooks/github", big, _signed(big))
    assert status == 413 and str(LIMIT) in answer["message"], answer
    assert "Traceback" not in served.log.read_text()


@pytest.mark.parametrize("env,config", [
    ({"GITFLOWS_UI_TOKEN": "   "}, ""),
    ({"GITFLOWS_UI_TOKEN": "", "GITFLOWS_UI_PASSWORD": " \t"}, "ui_auth:\n  user: ada\n"),
    ({"GITFLOWS_UI_TOKEN": ""}, "max_body: -1\n"),
])
def test_serve_refuses_blank_credentials_and_bad_limits(tmp_path: Path, env: dict[str, str],
                                                        config: str) -> None:
    repo = _repo(tmp_path)
    path = tmp_path / "serve.yml"
    path.write_text(config or "{}\n")
    done = run_cli("serve", "--config", str(path), "--port", str(free_port()), "--data",
                   str(tmp_path / "data"), cwd=repo, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "blank" in done.stderr or "max_body" in done.stderr, done.stderr
