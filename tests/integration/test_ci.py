"""`flows ci` in a simulated GitHub Actions job: a real repository with a real origin, the
GITHUB_* variables a runner sets, event payloads built from GitHub's own examples
(@octokit/webhooks-examples) and a GitHub API stand-in that validates every request against
GitHub's OpenAPI description. The installed `flows` CLI runs as a subprocess."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FLOWS, run_cli
from tests.integration.test_hooks import commit, git
from tests.standins.fixtures import github_openapi
from tests.standins.github import GitHubStandIn
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)

TOKEN = "ghs_flowsCiTestTokenNeverLogged000000001"
REPO = "octo/hello"
BUILD = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: compile
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: gitflows-test/busybox:1  # where an untrusted run (a fork's) runs it
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
    commands:
      - 'echo "token=${GITHUB_TOKEN:-unset} trigger={{ trigger.type }}/{{ trigger.id }}"'
      - 'test "$(cat status.txt)" = good || { echo "status.txt:1: error: not good" >&2; exit 1; }'
"""
DEPLOY = """\
id: deploy
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
  - id: on_pr
    type: gitflows.trigger.PullRequest
tasks:
  - id: use-key
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: gitflows-test/busybox:1  # where an untrusted run (a fork's) runs it
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - 'test "{{ secret(''DEPLOY_KEY'') }}" = "k3y-value"'
"""
DOCS = """\
id: docs
namespace: demo
triggers:
  - id: on_docs
    type: gitflows.trigger.Push
    paths: ["docs/**"]
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: docs changed
"""


@dataclass
class Job:
    """One simulated Actions job: the checkout, its origin and the runner's files."""

    root: Path
    origin: Path
    work: Path
    api: GitHubStandIn
    examples: dict[str, list[dict[str, Any]]]

    def env(self, event: str, payload: dict[str, Any] | None, sha: str) -> dict[str, str]:
        path = self.root / f"event-{event}.json"
        path.write_text(json.dumps(payload or {}))
        for name in ("summary.md", "outputs.txt"):
            (self.root / name).write_text("")
        return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event,
                "GITHUB_EVENT_PATH": str(path), "GITHUB_SHA": sha, "GITHUB_REPOSITORY": REPO,
                "GITHUB_WORKSPACE": str(self.work), "GITHUB_TOKEN": TOKEN,
                "GITHUB_API_URL": self.api.url, "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "4242", "GITHUB_STEP_SUMMARY": str(self.root / "summary.md"),
                "GITHUB_OUTPUT": str(self.root / "outputs.txt"), "RUNNER_NAME": "GitHub Actions 7",
                "RUNNER_TEMP": str(self.root / "runner-temp"), "XDG_DATA_HOME": str(self.root / "data"),
                "SECRET_DEPLOY_KEY": base64.b64encode(b"k3y-value").decode()}

    def push_payload(self, before: str, after: str, message: str) -> dict[str, Any]:
        payload = copy.deepcopy(next(p for p in self.examples["push"]
                                     if p["ref"].startswith("refs/heads/")))
        payload.update(ref="refs/heads/main", before=before, after=after, created=False,
                       commits=[])
        payload["head_commit"].update(id=after, message=message)
        payload["repository"].update(full_name=REPO, name="hello", default_branch="main")
        return payload

    def pr_payload(self, base: str, head: str, head_repo: str) -> dict[str, Any]:
        payload = copy.deepcopy(next(p for p in self.examples["pull_request"]
                                     if p["action"] == "synchronize"))
        payload.update(number=7, before=base, after=head)
        payload["repository"]["full_name"] = REPO
        pr = payload["pull_request"]
        pr["number"] = 7
        pr["base"].update(ref="main", sha=base)
        pr["base"]["repo"]["full_name"] = REPO
        pr["head"].update(ref="feature", sha=head)
        pr["head"]["repo"]["full_name"] = head_repo
        return payload

    def run(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("GITHUB_", "RUNNER_", "SECRET_", "GITEA_", "GITLAB_"))}
        return subprocess.run([*FLOWS, "ci", *args], cwd=self.work, env={**clean, **env},
                              capture_output=True, text=True, timeout=120)

    def outputs(self) -> dict[str, str]:
        text = (self.root / "outputs.txt").read_text()
        return dict(line.split("=", 1) for line in text.splitlines())

    def statuses(self) -> dict[str, list[tuple[str, str, str]]]:
        """context → [(sha, state, description)] in the order sent."""
        found: dict[str, list[tuple[str, str, str]]] = {}
        for call in self.api.calls("POST", "/statuses/"):
            found.setdefault(call.body["context"], []).append(
                (call.path.rsplit("/", 1)[1], call.body["state"], call.body["description"]))
        return found


def notes(repo: Path, sha: str, *, git_dir: bool = False) -> list[dict[str, Any]]:
    where = ["--git-dir", str(repo)] if git_dir else ["-C", str(repo)]
    shown = subprocess.run(["git", *where, "notes", "--ref=flows", "show", sha],
                           capture_output=True, text=True)
    return [json.loads(line) for line in shown.stdout.splitlines()] if shown.returncode == 0 else []


@pytest.fixture
def job(tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]  # noqa: F811
        ) -> Iterator[Job]:
    origin, work = tmp_path / "origin.git", tmp_path / "hello"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "remote", "add", "origin", str(origin))
    commit(work, ".flows/build.yml", BUILD, "flows")
    commit(work, ".flows/deploy.yml", DEPLOY, "deploy flow")
    commit(work, ".flows/docs.yml", DOCS, "docs flow")
    commit(work, "status.txt", "good\n", "good")
    git(work, "push", "-q", "origin", "main")
    with GitHubStandIn(github_openapi(), token=TOKEN) as api:
        yield Job(tmp_path, origin, work, api, octokit_examples)  # type: ignore[arg-type]


def test_push_runs_the_triggered_flows_reports_records_and_pushes_history(job: Job) -> None:
    before = git(job.work, "rev-parse", "HEAD")
    sha = commit(job.work, "status.txt", "good\n\n", "touch status")
    git(job.work, "push", "-q", "origin", "main")
    env = job.env("push", job.push_payload(before, sha, "touch status"), sha)
    done = job.run(env, "--executor", "process", "--push-history")
    assert done.returncode == 0, done.stderr
    assert job.api.invalid() == []
    statuses = job.statuses()
    assert set(statuses) == {"flows/demo.build", "flows/demo.deploy"}  # docs: no docs/** change
    for sent in statuses.values():
        assert [(s, state) for s, state, _ in sent] == [(sha, "pending"), (sha, "success")]
    outputs = job.outputs()
    assert outputs["state"] == "SUCCESS" and outputs["failed-flows"] == ""
    run_ids = outputs["run-ids"].split(",")
    assert len(run_ids) == 2
    summary = (job.root / "summary.md").read_text()
    assert f"push of `{REPO}` at `{sha[:12]}`" in summary
    assert "| `demo.build` | ✅ SUCCESS |" in summary and "| `demo.deploy` | ✅ SUCCESS |" in summary
    assert "<details>" not in summary
    recorded = notes(job.work, sha)
    assert {e["run"] for e in recorded} == set(run_ids)
    assert {(e["trigger"], e["ref"], e["runner"]) for e in recorded} == {
        ("push", "main", "flows ci@GitHub Actions 7")}
    assert {e["state"] for e in recorded if e.get("dur_ms") is not None} == {"SUCCESS"}
    assert {e["run"] for e in notes(job.origin, sha, git_dir=True)} == set(run_ids)
    assert TOKEN not in done.stderr and "token=unset" in done.stderr  # steps get only `env`
    assert "trigger=push/on_push" in done.stderr


def test_failing_flow_exits_1_with_its_log_tail_in_the_summary(job: Job) -> None:
    before = git(job.work, "rev-parse", "HEAD")
    sha = commit(job.work, "status.txt", "bad\n", "break it")
    env = job.env("push", job.push_payload(before, sha, "break it"), sha)
    done = job.run(env, "--executor", "process")
    assert done.returncode == 1, done.stderr
    assert job.api.invalid() == []
    assert job.statuses()["flows/demo.build"][-1][:2] == (sha, "failure")
    assert "status.txt:1: error: not good" in job.statuses()["flows/demo.build"][-1][2]
    assert job.outputs()["state"] == "FAILED"
    assert job.outputs()["failed-flows"] == "demo.build"
    summary = (job.root / "summary.md").read_text()
    assert "| `demo.build` | ❌ FAILED |" in summary
    details = summary.split("<details>", 1)[1]
    assert "task <code>compile</code> failed" in details
    assert "status.txt:1: error: not good" in details
    assert [e["state"] for e in notes(job.work, sha) if e.get("dur_ms") is not None].count(
        "FAILED") == 1


def test_skip_ci_posts_skipped_statuses_and_runs_nothing(job: Job) -> None:
    before = git(job.work, "rev-parse", "HEAD")
    sha = commit(job.work, "status.txt", "bad\n", "wip [skip ci]")
    env = job.env("push", job.push_payload(before, sha, "wip [skip ci]"), sha)
    done = job.run(env, "--executor", "process", "--json")
    assert done.returncode == 0, done.stderr
    assert job.api.invalid() == []
    statuses = job.statuses()
    assert set(statuses) == {"flows/demo.build", "flows/demo.deploy"}
    for sent in statuses.values():
        assert len(sent) == 1 and sent[0][:2] == (sha, "success") and "skip ci" in sent[0][2]
    assert job.outputs() == {"state": "SKIPPED", "run-ids": "", "failed-flows": ""}
    assert notes(job.work, sha) == []
    result = json.loads(done.stdout)
    assert result["runs"] == [] and {s["flow"] for s in result["skipped"]} == {
        "demo.build", "demo.deploy"}
    assert "⏭️ SKIPPED" in (job.root / "summary.md").read_text()


def test_fork_pull_request_runs_untrusted_and_pushes_no_history(
        job: Job, docker_executor: Any) -> None:
    base = git(job.work, "rev-parse", "HEAD")
    git(job.work, "checkout", "-q", "-b", "feature")
    head = commit(job.work, "status.txt", "good\n\n", "contribution")
    env = job.env("pull_request", job.pr_payload(base, head, "forker/hello"), head)
    done = job.run(env, "--push-history")  # the Process runner is not for a fork: containers
    assert done.returncode == 1, done.stderr  # deploy needs a secret: refused to a fork
    assert "untrusted" in done.stderr
    assert "secrets are not available to untrusted runs" in done.stderr
    assert "token=unset trigger=pull_request/on_pr" in done.stderr  # no token in the steps
    assert "history not pushed" in done.stderr
    assert job.api.invalid() == []
    statuses = job.statuses()
    assert [s[:2] for s in statuses["flows/demo.build"]] == [(head, "pending"), (head, "success")]
    assert [s[:2] for s in statuses["flows/demo.deploy"]] == [(head, "pending"), (head, "failure")]
    assert job.outputs()["failed-flows"] == "demo.deploy"
    assert "untrusted" in (job.root / "summary.md").read_text()
    assert {e["ref"] for e in notes(job.work, head)} == {"refs/pull/7/head"}
    listed = subprocess.run(["git", "--git-dir", str(job.origin), "show-ref"], capture_output=True,
                            text=True).stdout
    assert "refs/notes/flows" not in listed


def test_fork_pull_request_without_a_container_engine_is_not_run_and_says_why(job: Job) -> None:
    base = git(job.work, "rev-parse", "HEAD")
    git(job.work, "checkout", "-q", "-b", "feature")
    head = commit(job.work, "status.txt", "good\n\n", "contribution")
    env = job.env("pull_request", job.pr_payload(base, head, "forker/hello"), head)
    done = job.run(env, "--executor", "process")
    assert done.returncode == 1, done.stderr
    assert "token=" not in done.stderr  # no step ran, not even on the host
    final = job.statuses()["flows/demo.build"][-1]
    assert final[:2] == (head, "failure") and "only in containers" in final[2], final


def test_same_repository_pull_request_is_trusted(job: Job) -> None:
    base = git(job.work, "rev-parse", "HEAD")
    git(job.work, "checkout", "-q", "-b", "feature")
    head = commit(job.work, "status.txt", "good\n\n", "change")
    env = job.env("pull_request", job.pr_payload(base, head, REPO), head)
    done = job.run(env, "--executor", "process", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert job.outputs()["state"] == "SUCCESS"
    assert len(job.outputs()["run-ids"].split(",")) == 2  # build and deploy (secret available)
    assert "untrusted" not in done.stderr
    assert job.api.invalid() == []


def test_workflow_dispatch_runs_the_named_flow_regardless_of_triggers(job: Job) -> None:
    sha = git(job.work, "rev-parse", "HEAD")
    env = job.env("workflow_dispatch", {"ref": "refs/heads/main"}, sha)
    done = job.run(env, "--executor", "process", "--flow", "demo.docs")
    assert done.returncode == 0, done.stderr
    assert job.outputs()["state"] == "SUCCESS"
    assert job.api.calls() == []  # manual runs post no commit status
    assert [e["trigger"] for e in notes(job.work, sha) if e.get("dur_ms") is not None] == [
        "manual"]
    missing = job.run(env, "--executor", "process")
    assert missing.returncode == 2 and "--flow" in missing.stderr
    unknown = job.run(env, "--flow", "demo.nope")
    assert unknown.returncode == 2 and "demo.nope" in unknown.stderr


def test_outside_actions_the_event_must_be_given(job: Job) -> None:
    done = run_cli("ci", "--repo", str(job.work), env={"GITHUB_ACTIONS": ""})
    assert done.returncode == 2
    assert "--event" in done.stderr
