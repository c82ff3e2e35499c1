"""`[skip ci]` in `flows serve` is read from git at the pushed commit, as `flows ci` reads it:
a signed GitHub push without `head_commit` (tag and branch-create pushes come so) and a
polled repository (its events carry no message at all) run nothing for a `[skip ci]` commit,
and post the same skipped status as other skips; a normal commit still runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.integration.test_hooks import (
    FLOW,
    SECRET,
    commit,
    deliver,
    executions_after,
    git,
    push_payload,
)
from tests.integration.test_poll_mirror import handled, queued_runs, remote, server  # noqa: F401 (fixtures)
from tests.standins.fixtures import github_openapi
from tests.standins.github import GitHubStandIn
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING, wait_until

TOKEN = "ghp_skipCiServeTestTokenNeverLogged000001"


@pytest.fixture
def reported(tmp_path: Path) -> Iterator[tuple[str, Path, str, GitHubStandIn]]:
    """A served repository whose runs report commit statuses to a GitHub stand-in."""
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/build.yml", FLOW, "flows")
    first = commit(repo, "src/app.txt", "v1", "initial")
    with GitHubStandIn(github_openapi(), token=TOKEN) as api:
        config = tmp_path / "serve.yml"
        config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n"
                          "    provider: github\n    webhook_secret_env: HELLO_SECRET\n"
                          f"    api_url: {api.url}\n    token_env: HELLO_TOKEN\n")
        server = Server(["--config", str(config), "--data", str(tmp_path / "data"),
                         "--executor", "process"], log=tmp_path / "serve.log",
                        env={"HELLO_SECRET": SECRET, "HELLO_TOKEN": TOKEN})
        try:
            yield server.base, repo, first, api  # type: ignore[misc]
        finally:
            server.stop()


def without_head_commit(payload: dict[str, Any]) -> dict[str, Any]:
    """A push as GitHub sends some of them: no head_commit, no commits."""
    payload.pop("head_commit", None)
    payload["commits"] = []
    return payload


def final_statuses(api: GitHubStandIn, sha: str) -> list[tuple[str, str, str]]:
    """(context, state, description) posted for sha, once the statuses stop coming."""
    deadline = time.monotonic() + CEILING
    while True:
        sent = [(c.body["context"], c.body["state"], c.body["description"])
                for c in api.calls("POST", f"/statuses/{sha}")]
        if sent and sent[-1][1] != "pending":
            time.sleep(0.5)
            again = api.calls("POST", f"/statuses/{sha}")
            if len(again) == len(sent):
                return sent
        assert time.monotonic() < deadline, sent
        time.sleep(0.1)


def test_a_push_without_head_commit_skips_a_skip_ci_commit(
        reported: tuple[str, Path, str, GitHubStandIn],
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    base, repo, first, api = reported
    skipped = commit(repo, "src/app.txt", "v2", "bump version [skip ci]")
    status, body = deliver(base, without_head_commit(
        push_payload(octokit_examples, first, skipped, "unused")))
    assert status == 202 and body["stored"]
    sent = final_statuses(api, skipped)
    assert [(context, state) for context, state, _ in sent] == [("flows/demo.build", "success")]
    assert "skip ci" in sent[0][2]
    assert executions_after(base, 0) == []

    normal = commit(repo, "src/app.txt", "v3", "a real change")
    status, _ = deliver(base, without_head_commit(
        push_payload(octokit_examples, skipped, normal, "unused")))
    assert status == 202
    runs = executions_after(base, 1)
    assert [r["trigger"]["commit"] for r in runs] == [normal]
    assert [(c, s) for c, s, _ in final_statuses(api, normal)] == [
        ("flows/demo.build", "pending"), ("flows/demo.build", "success")]
    assert api.invalid() == []


def test_the_message_from_git_wins_over_the_payload(
        reported: tuple[str, Path, str, GitHubStandIn],
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    base, repo, first, api = reported
    skipped = commit(repo, "src/app.txt", "v2", "release [ci skip]")
    status, _ = deliver(base, push_payload(octokit_examples, first, skipped, "a message"))
    assert status == 202
    assert [(c, s) for c, s, _ in final_statuses(api, skipped)] == [
        ("flows/demo.build", "success")]
    assert executions_after(base, 0) == []


def test_a_polled_skip_ci_commit_runs_nothing(
        server: str, remote: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    _, work = remote
    assert executions_after(server, 0, settle=0.5) == []
    skipped = commit(work, "src/app.txt", "v2", "docs tweak\n\n[skip ci]")
    git(work, "push", "-q", "origin", "main")
    wait_until(lambda: handled(tmp_path / "data", "refs/heads/main", skipped), "the skipped push")
    assert queued_runs(tmp_path / "data") == 0 and executions_after(server, 0) == []
    normal = commit(work, "src/app.txt", "v3", "change")
    git(work, "push", "-q", "origin", "main")
    runs = executions_after(server, 1)
    assert [r["trigger"]["commit"] for r in runs] == [normal] and skipped != normal
