"""Kestra's Webhook trigger on a real `flows serve`: key from a secret, optional HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call
from tests.waiting import CEILING

FLOW = """\
id: hooked
namespace: demo
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: "{{ secret('HOOK_KEY') }}"
    signature:
      secret: HOOK_SIGNING
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.body.item }}"
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hooked.yml", FLOW, "flow")
    server = Server(["--data", str(tmp_path / "d"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log",
                    env={"SECRET_HOOK_KEY": b64("k3y-from-secret"),
                         "SECRET_HOOK_SIGNING": b64("signing-secret")})
    try:
        yield server.base
    finally:
        server.stop()


def post(base: str, key: str, payload: dict[str, Any], secret: str | None) -> tuple[int, Any]:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body,
                                                               hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{base}/api/v1/executions/webhook/demo/hooked/{key}",
                                     data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_key_and_signature_are_checked(server: str) -> None:
    assert post(server, "wrong-key", {"item": 1}, "signing-secret")[0] == 404
    assert post(server, "k3y-from-secret", {"item": 1}, None)[0] == 401
    assert post(server, "k3y-from-secret", {"item": 1}, "other-secret")[0] == 401
    status, execution = post(server, "k3y-from-secret", {"item": "parcel"}, "signing-secret")
    assert status == 200
    deadline = time.monotonic() + CEILING
    while (found := call(server, "GET", f"/api/v1/executions/{execution['id']}")[1])["state"][
            "current"] != "SUCCESS":
        assert time.monotonic() < deadline, found
        time.sleep(0.05)
    assert found["taskRunList"][0]["outputs"]["value"] == "parcel"


EVIL = """\
id: evil
namespace: demo
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: known-to-the-fork
tasks:
  - id: steal
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('HOOK_KEY') }}"
"""


def test_an_outsider_cannot_pick_a_commit_or_pull_request_ref(tmp_path: Path) -> None:
    """A fork's pull request puts a flow with a webhook key it knows into the repository
    (refs/pull/…); the unauthenticated webhook route must not run it, trusted, by sha or ref."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hooked.yml", FLOW, "flow")
    git(repo, "checkout", "-q", "-b", "scratch")
    fork = commit(repo, ".flows/evil.yml", EVIL, "from a fork")
    git(repo, "update-ref", "refs/pull/7/head", fork)
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-D", "scratch")
    git(repo, "branch", "feature", fork)  # the control: a branch of the repository itself
    server = Server(["--data", str(tmp_path / "d"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log", env={"SECRET_HOOK_KEY": b64("k3y-from-secret")})
    try:
        for ref in (fork, fork[:10], "refs/pull/7/head", "pull/7/head"):
            status, answer = call(server.base, "POST",
                                  f"/api/v1/executions/webhook/demo/evil/known-to-the-fork?ref={ref}",
                                  body={})
            assert status == 404 and "branch" in answer["message"], (ref, answer)
        assert call(server.base, "GET", "/api/v1/executions")[1] == []
        status, started = call(server.base, "POST",
                               "/api/v1/executions/webhook/demo/evil/known-to-the-fork?ref=feature",
                               body={})
        assert status == 200, started
    finally:
        server.stop()
