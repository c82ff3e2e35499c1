"""An invalid flow file fails, never passes silently: `flows ci` exits 1, prints its
diagnostics, posts a failure status and lists it in the summary and `failed-flows`; a real
`flows serve` posts the same failure status for the same push. Statuses go to a GitHub stand-in
that validates every request against GitHub's OpenAPI description."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.conftest import Server
from tests.integration.test_ci import Job, job  # noqa: F401 (fixture)
from tests.integration.test_hooks import SECRET, commit, deliver, git
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING

TOKEN = "ghs_flowsCiTestTokenNeverLogged000000001"  # the one test_ci's stand-in knows
BROKEN = """\
id: broken
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
tasks:
  - id: oops
    type: io.kestra.plugin.core.log.NoSuchTask
    message: never
"""
GARBAGE = "tasks: [unclosed\n"
DIAGNOSTIC = re.compile(r"^(\.flows/[a-z]+\.yml):(\d+):(\d+): (error|warning) ([\w-]+): .+$",
                        re.MULTILINE)


def broken_push(ci_job: Job) -> tuple[str, str]:
    before = git(ci_job.work, "rev-parse", "HEAD")
    commit(ci_job.work, ".flows/broken.yml", BROKEN, "a flow with a typo")
    sha = commit(ci_job.work, ".flows/garbage.yml", GARBAGE, "a file that is not YAML")
    git(ci_job.work, "push", "-q", "origin", "main")
    return before, sha


def failures(ci_job: Job, sha: str) -> dict[str, str]:
    """context → description of the failure statuses posted for sha."""
    return {c.body["context"]: c.body["description"]
            for c in ci_job.api.calls("POST", f"/statuses/{sha}") if c.body["state"] == "failure"}


def test_flows_ci_fails_on_an_invalid_flow_file(job: Job) -> None:  # noqa: F811
    before, sha = broken_push(job)
    done = job.run(job.env("push", job.push_payload(before, sha, "add flows"), sha),
                   "--executor", "process")
    assert done.returncode == 1, done.stderr
    found = {m.group(1) for m in DIAGNOSTIC.finditer(done.stderr)}
    assert found == {".flows/broken.yml", ".flows/garbage.yml"}, done.stderr
    assert job.api.invalid() == []
    failed = failures(job, sha)
    assert set(failed) == {"flows/demo.broken", "flows/.flows/garbage.yml"}
    assert failed["flows/demo.broken"].startswith("FAILED: .flows/broken.yml:")
    assert "NoSuchTask" in failed["flows/demo.broken"]
    assert failed["flows/.flows/garbage.yml"].startswith("FAILED: .flows/garbage.yml:2:1: error yaml-syntax:")
    statuses = job.statuses()
    assert statuses["flows/demo.build"][-1][1] == "success"  # the valid flows still ran
    outputs = job.outputs()
    assert outputs["state"] == "FAILED"
    assert set(outputs["failed-flows"].split(",")) == {"demo.broken", ".flows/garbage.yml"}
    summary = (job.root / "summary.md").read_text()
    assert "| `demo.broken` | ❌ FAILED |" in summary
    assert "| `.flows/garbage.yml` | ❌ FAILED |" in summary
    assert "<code>.flows/broken.yml</code> is not a valid flow" in summary


def test_a_manual_run_of_an_invalid_flow_fails_rather_than_being_unknown(
        job: Job) -> None:  # noqa: F811
    broken_push(job)
    sha = git(job.work, "rev-parse", "HEAD")
    done = job.run(job.env("workflow_dispatch", {"ref": "refs/heads/main"}, sha),
                   "--executor", "process", "--flow", "demo.broken")
    assert done.returncode == 1, done.stderr
    assert ".flows/broken.yml:" in done.stderr and "no such flow" not in done.stderr


def test_the_server_posts_the_same_failure_for_an_invalid_flow(
        job: Job, tmp_path: Path,  # noqa: F811
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    before, sha = broken_push(job)
    payload = job.push_payload(before, sha, "add flows")
    done = job.run(job.env("push", payload, sha), "--executor", "process")
    assert done.returncode == 1, done.stderr
    from_ci = failures(job, sha)
    ci_calls = len(job.api.calls("POST", f"/statuses/{sha}"))

    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {job.work}\n"
                      "    provider: github\n    webhook_secret_env: HELLO_SECRET\n"
                      f"    api_url: {job.api.url}\n    token_env: HELLO_TOKEN\n")
    server = Server(["--config", str(config), "--data", str(tmp_path / "data"), "--executor",
                     "process"], log=tmp_path / "serve.log",
                    env={"HELLO_SECRET": SECRET, "HELLO_TOKEN": TOKEN})
    try:
        status, _ = deliver(server.base, payload)
        assert status == 202
        deadline = time.monotonic() + CEILING
        while True:
            served = {c.body["context"]: c.body["description"]
                      for c in job.api.calls("POST", f"/statuses/{sha}")[ci_calls:]
                      if c.body["state"] == "failure"}
            if {"flows/demo.broken", "flows/.flows/garbage.yml"} <= set(served):
                break
            assert time.monotonic() < deadline, (served, (tmp_path / "serve.log").read_text())
            time.sleep(0.1)
    finally:
        server.stop()
    assert job.api.invalid() == []
    assert {k: served[k] for k in from_ci} == from_ci
