"""Signed provider webhooks end to end: a real `flows serve`, a real repository, real HTTP.

Deliveries are stored durably, then the dispatcher reads `.flows/` at the pushed
commit, applies the trigger filters to the paths git says changed, and runs.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING

SECRET = "s3cret-for-tests"
FLOW = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
    paths: ["src/**"]
tasks:
  - id: which
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.sha }} {{ trigger.branch }}"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.invalid", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, path: str, text: str, message: str) -> str:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".flows").mkdir()
    (repo / ".flows" / "build.yml").write_text(FLOW)
    git(repo, "add", ".")
    first = commit(repo, "src/app.txt", "v1", "initial")
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n    provider: github\n"
                      "    webhook_secret_env: HELLO_SECRET\n")
    server = Server(["--config", str(config), "--data", str(tmp_path / "data"), "--executor",
                     "process"], log=tmp_path / "serve.log", env={"HELLO_SECRET": SECRET})
    try:
        yield server.base, repo, [first]
    finally:
        server.stop()


def push_payload(examples: dict[str, list[dict[str, Any]]], before: str, after: str,
                 message: str) -> dict[str, Any]:
    payload = copy.deepcopy(next(e for e in examples["push"] if e.get("head_commit")))
    payload.update(ref="refs/heads/main", before=before, after=after, created=False, deleted=False)
    payload["repository"]["full_name"] = "octo/hello"
    payload["head_commit"]["message"] = message
    payload["head_commit"]["id"] = after
    return payload


def deliver(base: str, payload: dict[str, Any], *, secret: str = SECRET,
            delivery: str | None = None) -> tuple[int, Any]:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(base + "/hooks/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": signature})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def executions_after(base: str, count: int, settle: float = 1.5) -> list[dict[str, Any]]:
    """Wait until at least `count` executions exist and are done, and nothing new comes."""
    deadline = time.monotonic() + CEILING
    while True:
        found = call(base, "GET", "/api/v1/executions")[1]
        done = all(e["state"]["current"] in ("SUCCESS", "FAILED", "WARNING") for e in found)
        if len(found) >= count and done:
            time.sleep(settle)
            again = call(base, "GET", "/api/v1/executions")[1]
            if len(again) == len(found):
                return list(found)
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_push_runs_flows_whose_filters_match_the_changed_paths(
        served: tuple[str, Path, list[str]],
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    base, repo, commits = served
    docs = commit(repo, "docs/readme.md", "docs", "docs only")
    status, body = deliver(base, push_payload(octokit_examples, commits[0], docs, "docs only"))
    assert status == 202 and body["stored"]
    assert executions_after(base, 0) == []  # paths: src/** does not match docs/

    code = commit(repo, "src/app.txt", "v2", "change the app")
    delivery = str(uuid.uuid4())
    status, body = deliver(base, push_payload(octokit_examples, docs, code, "change the app"),
                           delivery=delivery)
    assert status == 202 and body["stored"]
    runs = executions_after(base, 1)
    assert len(runs) == 1
    outputs = {tr["taskId"]: tr["outputs"] for tr in runs[0]["taskRunList"]}
    assert outputs["which"]["value"] == f"{code} main"
    assert runs[0]["trigger"]["commit"] == code

    status, body = deliver(base, push_payload(octokit_examples, docs, code, "change the app"),
                           delivery=delivery)
    assert status == 202 and body["duplicate"]
    assert len(executions_after(base, 1)) == 1  # a duplicate delivery runs nothing


def test_bad_signature_is_refused_and_skip_ci_runs_nothing(
        served: tuple[str, Path, list[str]],
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    base, repo, commits = served
    change = commit(repo, "src/app.txt", "v3", "tweak [skip ci]")
    payload = push_payload(octokit_examples, commits[0], change, "tweak [skip ci]")
    status, _ = deliver(base, payload, secret="wrong-secret")
    assert status == 401
    status, body = deliver(base, payload)
    assert status == 202 and body["stored"]
    assert executions_after(base, 0) == []
