"""The server reports back on the commit: a push dispatched through the inbox, queue and
engine posts pending then the final state to a GitHub stand-in that validates every request
against GitHub's OpenAPI description; a `[skip ci]` push posts a skipped status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.executors import Executors, LocalExecutor
from runner.forges.event import Push
from tests.integration.test_hooks import commit, git
from tests.standins.fixtures import github_openapi
from tests.standins.github import GitHubStandIn
from tests.waiting import CEILING
from webhooks.config import RepoConfig, ServerConfig
from webhooks.loops.dispatcher import Dispatcher
from webhooks.runs.service import FlowService
from webhooks.runs.workers import QueueWorker

TOKEN = "ghp_serverStatusTestTokenNeverLogged00001"
FLOW = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
tasks:
  - id: compile
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
    commands:
      - 'test "$(cat status.txt)" = good || { echo "status.txt:1: error: not good" >&2; exit 1; }'
"""


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(github_openapi(), token=TOKEN) as standin:
        yield standin  # type: ignore[misc]


def push(repo: str, before: str, after: str, message: str, delivery: str) -> Push:
    return Push(provider="github", delivery_id=delivery, repo=repo, ref="refs/heads/main",
                branch="main", tag=None, created=False, deleted=False, before=before, after=after,
                head_commit_message=message)


def wait_quiet(service: FlowService, count: int) -> None:
    deadline = time.monotonic() + CEILING
    while len([r for r in service.registry.all() if r.done.is_set()]) < count or \
            service.intake.queue.counts().get("queued") or service.intake.queue.counts().get("running"):
        assert time.monotonic() < deadline, service.intake.queue.counts()
        time.sleep(0.05)


def test_push_runs_report_pending_then_final_state(github: GitHubStandIn, tmp_path: Path) -> None:
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    first = commit(repo, ".flows/build.yml", FLOW, "flow")
    good = commit(repo, "status.txt", "good\n", "good")
    bad = commit(repo, "status.txt", "bad\n", "bad")
    skipped = commit(repo, "status.txt", "good\n", "fix [skip ci]")
    config = ServerConfig(data_dir=tmp_path / "data", repos=(RepoConfig(
        name="octocat/Hello-World", location=str(repo), provider="github", api_url=github.url,
        token_env="GH_TOKEN"),))
    service = FlowService(config, Executors(LocalExecutor()), environ={"GH_TOKEN": TOKEN})
    worker, dispatcher = QueueWorker(service, service.intake.queue), Dispatcher(service)
    worker.start()
    try:
        dispatcher.handle(push("octocat/Hello-World", first, good, "good", "d1"), "github:d1")
        wait_quiet(service, 1)
        dispatcher.handle(push("octocat/Hello-World", good, bad, "bad", "d2"), "github:d2")
        wait_quiet(service, 2)
        dispatcher.handle(push("octocat/Hello-World", bad, skipped, "fix [skip ci]", "d3"),
                          "github:d3")
    finally:
        worker.stop()
        service.close()
    assert github.invalid() == []
    sent = [(r.path.rsplit("/", 1)[1], r.body["state"], r.body["context"], r.body["description"])
            for r in github.calls("POST", "/statuses/")]
    assert [(sha, state) for sha, state, _, _ in sent] == [
        (good, "pending"), (good, "success"), (bad, "pending"), (bad, "failure"),
        (skipped, "success")]
    assert {context for _, _, context, _ in sent} == {"flows/demo.build"}
    assert sent[3][3] == "FAILED at task compile: status.txt:1: error: not good"
    assert "skip ci" in sent[4][3]
