"""POST /hooks/<provider> is answered before flask (webhooks/app.py DirectHooks), for speed.
Differential, fuzzed: every request gets the same status, JSON answer and headers from the
direct path as from the flask route it stands in for, each app on its own inbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client, EnvironBuilder

from runner.executors import Executors, LocalExecutor
from webhooks.app import SECURITY_HEADERS, DirectHooks, create_app
from webhooks.config import RepoConfig, ServerConfig
from webhooks.runs.service import FlowService

SECRET = "direct-secret"
LIMIT = 4096  # max_delivery of the apps under test


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Client]]:
    """(the app as served, with the direct path; the same app's flask route alone)."""
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    services, clients = [], []
    for which in ("direct", "flask"):
        config = ServerConfig(data_dir=tmp_path_factory.mktemp(which), max_delivery=LIMIT, repos=(
            RepoConfig("octo/hello", str(repo), "github", "HELLO_SECRET"),
            RepoConfig("octo/tea", str(repo), "gitea", "HELLO_SECRET")))
        service = FlowService(config, Executors(LocalExecutor()), environ={"HELLO_SECRET": SECRET})
        app: Flask = create_app(service)
        assert isinstance(app.wsgi_app, DirectHooks)
        services.append(service)
        clients.append(Client(app if which == "direct" else app.wsgi_app.app))
    try:
        yield clients[0], clients[1]
    finally:
        for service in services:
            service.close()


def _answer(client: Client, path: str, query: str, headers: dict[str, str], body: bytes,
            chunked: bool) -> tuple[int, Any, dict[str, str]]:
    environ = EnvironBuilder(path, method="POST", query_string=query, headers=headers,
                             data=body).get_environ()
    if chunked:  # as waitress hands over a chunked body: no length, read to its end
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    response = client.open(environ)
    kept = {name: value for name, value in response.headers.items()
            if name not in ("Content-Length", "Date", "Server")}
    return response.status_code, json.loads(response.get_data()), kept


payloads = st.one_of(
    st.builds(lambda repo: json.dumps({"zen": "z", "hook_id": 1, "repository": {
        "full_name": repo}}).encode(), st.sampled_from(["octo/hello", "octo/tea", "else/where"])),
    st.binary(max_size=64),
    st.builds(lambda n: json.dumps({"pad": "x" * n}).encode(), st.sampled_from(
        [LIMIT - 20, LIMIT - 11, LIMIT - 10, LIMIT + 100])))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150,
          deadline=None)
@given(provider=st.sampled_from(["github", "gitea", "gitlab", "GitHub", "nope", "git\x01hub",
                                 "ü", "github/extra", ""]),
       body=payloads,
       event=st.sampled_from([None, "ping", "push", "issues"]),
       signature=st.sampled_from(["good", "bad", None]),
       query=st.sampled_from(["", "limit=abc", "limit=3", "ref=a%01b", "x=%ff"]),
       content_type=st.sampled_from(["application/json", "text/plain", None]),
       chunked=st.booleans())
def test_the_direct_path_answers_as_the_flask_route(
        apps: tuple[Client, Client], provider: str, body: bytes, event: str | None,
        signature: str | None, query: str, content_type: str | None, chunked: bool) -> None:
    forge = "gitea" if provider == "gitea" else "github"
    headers = {"X-GitHub-Delivery": str(uuid.uuid4()), "X-Gitea-Delivery": str(uuid.uuid4())}
    if event is not None:
        headers["X-GitHub-Event" if forge == "github" else "X-Gitea-Event"] = event
    if signature is not None:
        key = SECRET if signature == "good" else "wrong"
        digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        headers.update({"X-Hub-Signature-256": f"sha256={digest}"} if forge == "github"
                       else {"X-Gitea-Signature": digest})
    if content_type is not None:
        headers["Content-Type"] = content_type
    direct, flask_route = apps
    path = f"/hooks/{provider}"
    got = _answer(direct, path, query, headers, body, chunked)
    assert got == _answer(flask_route, path, query, headers, body, chunked)
    assert all(got[2].get(name) == value for name, value in SECURITY_HEADERS.items())


def test_a_delivery_goes_the_direct_way_and_anything_else_to_flask(
        apps: tuple[Client, Client], monkeypatch: pytest.MonkeyPatch) -> None:
    direct, _ = apps
    app = direct.application
    assert isinstance(app, Flask)
    seen: list[str] = []
    inner = app.wsgi_app.app  # type: ignore[attr-defined]

    def flask_saw(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    monkeypatch.setattr(app.wsgi_app, "app", flask_saw)
    direct.post("/hooks/github", data=b"{}")
    direct.get("/hooks/github")
    direct.post("/hooks/github/")
    direct.post("/hooks//github")
    direct.get("/healthz")
    assert seen == ["GET /hooks/github", "POST /hooks/github/", "POST /hooks//github",
                    "GET /healthz"]
