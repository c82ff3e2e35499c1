"""`flows ci` pieces: resolving the event from options and CI variables, choosing flows,
the exit code and outputs, the job summary and GitHub's output file format."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.ci.event import CiOptions, Context, resolve
from runner.ci.job import CiResult, RunResult, select, summary_markdown, write_outputs
from runner.errors import UsageError
from runner.events import State
from runner.language.parse import parse_flow

FLOW = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.invalid", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".flows").mkdir(parents=True)
    (root / ".flows" / "build.yml").write_text(FLOW)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    return root


def _payload(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(data))
    return path


def _push(sha: str, message: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"ref": "refs/heads/main", "before": "0" * 40, "after": sha,
                            "repository": {"full_name": "o/r", "default_branch": "main"}}
    if message is not None:
        data["head_commit"] = {"id": sha, "message": message}
    return data


def test_a_generic_push_payload_is_enough(repo: Path, tmp_path: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    ctx = resolve(CiOptions(event="push", payload=_payload(tmp_path, _push(sha)), repo=repo), {})
    assert (ctx.sha, ctx.repo, ctx.ref, ctx.untrusted) == (sha, "o/r", "main", False)
    assert ctx.git_event is not None and ctx.git_event.head_commit_message == "first"  # from git
    assert ctx.trigger["type"] == "push" and ctx.trigger["sha"] == sha
    assert (ctx.provider, ctx.api_url, ctx.token) == ("github", "https://api.github.com", None)


def test_actions_variables_are_read_only_inside_actions(repo: Path, tmp_path: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(_payload(tmp_path, _push(sha))),
           "GITHUB_WORKSPACE": str(repo), "GITHUB_TOKEN": "t0ken", "GITHUB_API_URL": "http://api",
           "GITHUB_SERVER_URL": "https://gh.example", "GITHUB_REPOSITORY": "o/r",
           "GITHUB_RUN_ID": "9", "RUNNER_NAME": "runner-1"}
    with pytest.raises(UsageError, match="--event"):
        resolve(CiOptions(), env)
    ctx = resolve(CiOptions(), {**env, "GITHUB_ACTIONS": "true"})
    assert (ctx.event, ctx.root, ctx.token, ctx.api_url) == ("push", repo, "t0ken", "http://api")
    assert ctx.target_url == "https://gh.example/o/r/actions/runs/9"
    assert ctx.runner == "flows ci@runner-1"


@pytest.mark.parametrize(("env", "provider", "api", "token"), [
    ({"GITEA_ACTIONS": "true", "GITHUB_API_URL": "http://gitea/api/v1", "GITHUB_TOKEN": "a"},
     "gitea", "http://gitea/api/v1", "a"),
    ({"GITLAB_CI": "true", "CI_API_V4_URL": "http://gl/api/v4", "GITLAB_TOKEN": "b"},
     "gitlab", "http://gl/api/v4", "b"),
    ({"FLOWS_API_URL": "http://ghe/api/v3", "FLOWS_TOKEN": "c", "GITHUB_TOKEN": "d"},
     "github", "http://ghe/api/v3", "c"),
])
def test_status_provider_from_the_ci(repo: Path, tmp_path: Path, env: dict[str, str],
                                     provider: str, api: str, token: str) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    ctx = resolve(CiOptions(event="push", payload=_payload(tmp_path, _push(sha)), repo=repo), env)
    assert (ctx.provider, ctx.api_url, ctx.token) == (provider, api, token)


def test_fork_pull_request_is_untrusted(repo: Path, tmp_path: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    payload = {"action": "opened", "number": 3, "repository": {"full_name": "o/r"},
               "pull_request": {"number": 3, "base": {"ref": "main", "sha": sha,
                                                      "repo": {"full_name": "o/r"}},
                                "head": {"ref": "x", "sha": sha,
                                         "repo": {"full_name": "fork/r"}}}}
    ctx = resolve(CiOptions(event="pull_request", payload=_payload(tmp_path, payload),
                            repo=repo), {})
    assert ctx.untrusted and ctx.ref == "refs/pull/3/head" and ctx.trigger["fork"] is True


@pytest.mark.parametrize(("options", "message"), [
    ({"event": "push"}, "--payload"),
    ({"event": "release"}, "--flow"),
    ({"event": "push", "flows_dir": Path("/nonexistent/flows")}, "no flows directory"),
    ({"event": "push", "provider": "bitbucket"}, "--provider"),
])
def test_usage_errors(repo: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve(CiOptions(repo=repo, **options), {})


def test_a_wrong_payload_or_deleted_branch_is_not_usable(repo: Path, tmp_path: Path) -> None:
    ping = _payload(tmp_path, {"zen": "hi", "hook_id": 1})
    with pytest.raises(UsageError, match="not a usable push event"):
        resolve(CiOptions(event="push", payload=ping, repo=repo), {})
    deleted = {**_push("0" * 40), "before": _git(repo, "rev-parse", "HEAD"), "deleted": True}
    with pytest.raises(UsageError, match="deletes"):
        resolve(CiOptions(event="push", payload=_payload(tmp_path, deleted), repo=repo), {})


def _flows() -> dict[str, Any]:
    flow, _ = parse_flow(FLOW, "build.yml")
    assert flow is not None
    return {flow.qualified_id: flow}


def test_select_filters_skips_and_names(repo: Path, tmp_path: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    said: list[str] = []
    ctx = resolve(CiOptions(event="push", payload=_payload(tmp_path, _push(sha)), repo=repo), {})
    runs, skipped = select(ctx, _flows(), (), said.append)
    assert [(f.qualified_id, t) for f, t in runs] == [("demo.build", "on_push")] and not skipped
    assert any("runs: branch 'main'" in line for line in said)
    # the message comes from git at the pushed commit, not from the payload
    _git(repo, "commit", "-q", "--allow-empty", "-m", "x [skip ci]")
    skipping = _git(repo, "rev-parse", "HEAD")
    skip = resolve(CiOptions(event="push", repo=repo,
                             payload=_payload(tmp_path, _push(skipping, "x"))), {})
    runs, skipped = select(skip, _flows(), (), said.append)
    assert runs == [] and [s.flow for s in skipped] == ["demo.build"]
    assert "[skip ci]" in skipped[0].note
    with pytest.raises(UsageError, match=r"demo\.other"):
        select(ctx, _flows(), ("demo.build,demo.other",), said.append)
    manual = resolve(CiOptions(event="workflow_dispatch", repo=repo), {})
    with pytest.raises(UsageError, match="--flow"):
        select(manual, _flows(), (), said.append)
    runs, _ = select(manual, _flows(), (" demo.build ",), said.append)
    assert [t for _, t in runs] == ["manual"]


def _context(**changes: Any) -> Context:
    base: dict[str, Any] = dict(
        event="push", root=Path("."), flows_dir=Path(".flows"), sha="a" * 40, repo="o/r",
        ref="main", trigger={"type": "push"}, git_event=None, untrusted=False,
        provider="github", api_url=None, token=None, target_url=None, runner="flows ci@x")
    return Context(**{**base, **changes})


def test_exit_code_state_and_outputs() -> None:
    ok = RunResult("a.ok", State.SUCCESS, "R1", 1.0)
    warn = RunResult("a.warn", State.WARNING, "R2", 1.0)
    bad = RunResult("a.bad", State.FAILED, "R3", 2.0, "step", ("boom",))
    killed = RunResult("a.killed", State.KILLED, "R4")
    skipped = RunResult("a.skip", State.SKIPPED, note="skipped: [skip ci]")
    assert CiResult(_context(), (), ()).exit_code == 0
    assert CiResult(_context(), (), (skipped,)).state is State.SKIPPED
    assert CiResult(_context(), (ok, warn), ()).exit_code == 0
    assert CiResult(_context(), (ok, warn), ()).state is State.WARNING
    assert CiResult(_context(), (ok, killed), ()).exit_code == 1
    result = CiResult(_context(), (ok, bad, killed), (skipped,))
    assert result.exit_code == 1 and result.state is State.FAILED
    assert result.outputs() == {"state": "FAILED", "run-ids": "R1,R3,R4",
                                "failed-flows": "a.bad,a.killed"}


def test_summary_table_and_failed_log_tail() -> None:
    bad = RunResult("a.bad", State.FAILED, "R3", 75.0, "step", ("x | y", "```inner```"))
    skipped = RunResult("a.skip", State.SKIPPED, note="skipped: a|b")
    text = summary_markdown(CiResult(_context(ref="feat|x"), (bad,), (skipped,)))
    assert text.startswith(f"### gitflows: push of `o/r` at `{'a' * 12}` (feat\\|x)")
    assert "| `a.bad` | ❌ FAILED | 1m 15s | `R3` |" in text
    assert "| `a.skip` | ⏭️ SKIPPED |  | skipped: a\\|b |" in text
    details = text.split("<details>")[1]
    assert "task <code>step</code> failed" in details
    assert "````text\nx | y\n```inner```\n````" in details  # a longer fence around ```
    empty = summary_markdown(CiResult(_context(untrusted=True), (), ()))
    assert "No flow is triggered" in empty and "untrusted" in empty


def test_outputs_file_format(tmp_path: Path) -> None:
    out = tmp_path / "GITHUB_OUTPUT"
    out.write_text("earlier=1\n")
    write_outputs(out, {"state": "SUCCESS", "notes": "line one\nline two", "empty": ""})
    lines = out.read_text().splitlines()
    assert lines[:2] == ["earlier=1", "state=SUCCESS"]
    name, _, delimiter = lines[2].partition("<<")
    assert name == "notes" and delimiter.startswith("ghadelimiter_")
    assert lines[3:6] == ["line one", "line two", delimiter] and lines[6] == "empty="


def test_this_repository_runs_its_checks_on_push_to_main_and_pull_requests() -> None:
    from runner.ci.job import load_flows
    from runner.triggers.git import GitEvent, matching_triggers
    from tests.conftest import REPO_ROOT

    flows = load_flows(REPO_ROOT / ".flows", pytest.fail)
    checks = {"gitflows.ci.lint", "gitflows.ci.types", "gitflows.ci.unit-tests",
              "gitflows.ci.bench-smoke"}
    assert checks <= set(flows)
    events = [GitEvent.for_push("refs/heads/main", changed_paths=("runner/ci/job.py",)),
              GitEvent("pull_request", "refs/pull/1/head", branch="x", action="opened",
                       base_branch="main", changed_paths=("README.md",))]
    for event in events:
        assert {name for name, flow in flows.items() if matching_triggers(flow, event)} == checks
    other = GitEvent.for_push("refs/heads/topic", changed_paths=("runner/ci/job.py",))
    assert not any(matching_triggers(flow, other) for flow in flows.values())
    for flow in flows.values():  # runnable with --executor process, on a copy of the repository
        for task in (t for t in flow.tasks if ".scripts." in t.type):
            assert task.props["taskRunner"]["type"] == "io.kestra.plugin.core.runner.Process"
            assert task.props["namespaceFiles"] == {"enabled": True}
