"""Commit statuses sent to a GitHub stand-in that validates every request against
GitHub's published OpenAPI description (@octokit/openapi), for real runs of the engine;
retries, an API that is down, and tokens kept out of logs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.events import Collect, ExecutionStateChanged, FanOut, State
from runner.executors import Executors, LocalExecutor
from runner.http import HttpError, RetryPolicy, Transport
from runner.reporters.commit_status import StatusReporter
from tests.standins.fixtures import github_openapi
from tests.standins.github import GitHubStandIn
from tests.unit.engine_helpers import flow_of

TOKEN = "ghp_standinTokenThatMustNeverBeLogged0001"
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
UI = "http://127.0.0.1:8080/ui/executions"

SUCCEEDS = """
id: hello
namespace: demo
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: hello
"""
FAILS = """
id: hello
namespace: demo
tasks:
  - id: build
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo compiling
      - 'echo "src/app.py:3:5: error: undefined name x" >&2'
      - exit 2
"""


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(github_openapi(), token=TOKEN) as standin:
        yield standin  # type: ignore[misc]


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_reporter(api: str, sleeps: Sleeps | None = None, token: str = TOKEN) -> StatusReporter:
    transport = Transport(RetryPolicy(timeout=5), sleep=sleeps or Sleeps())
    return StatusReporter("github", api, token, "octocat/Hello-World", SHA, "demo.hello",
                          f"{UI}/E1", transport=transport)


def run_flow(text: str, reporter: StatusReporter, tmp_path: Path) -> State:
    events = Collect()
    engine = Engine(Executors(LocalExecutor()), FanOut(events, reporter), environ={},
                    data_dir=tmp_path / "data", work_root=tmp_path / "work")
    reporter.pending()
    execution = engine.run(flow_of(text))
    assert reporter.close(timeout=20)
    return execution.state.current


def statuses(standin: GitHubStandIn) -> list[tuple[str, str]]:
    return [(r.body["state"], r.body["description"]) for r in standin.calls("POST", "/statuses/")
            if r.status == 201]


def test_a_successful_run_reports_pending_then_success(github: GitHubStandIn, tmp_path: Path) -> None:
    assert run_flow(SUCCEEDS, make_reporter(github.url), tmp_path) is State.SUCCESS
    assert github.invalid() == []
    sent = github.calls("POST")
    assert [r.path for r in sent] == [f"/repos/octocat/Hello-World/statuses/{SHA}"] * 2
    assert [r.operation for r in sent] == ["repos/create-commit-status"] * 2
    assert [r.body["state"] for r in sent] == ["pending", "success"]
    assert {r.body["context"] for r in sent} == {"flows/demo.hello"}
    assert {r.body["target_url"] for r in sent} == {f"{UI}/E1"}
    assert sent[1].body["description"].startswith("SUCCESS in ")
    assert all(len(r.body["description"]) <= 140 for r in sent)
    assert sent[0].headers["Authorization"] == "Bearer ***"


def test_a_failed_run_reports_failure_at_the_failed_task(github: GitHubStandIn, tmp_path: Path) -> None:
    assert run_flow(FAILS, make_reporter(github.url), tmp_path) is State.FAILED
    assert github.invalid() == []
    assert statuses(github) == [
        ("pending", "queued"),
        ("failure", "FAILED at task build: src/app.py:3:5: error: undefined name x")]


def test_killed_runs_report_error(github: GitHubStandIn) -> None:
    reporter = make_reporter(github.url)
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, _at(0)))
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.KILLED, _at(4)))
    assert reporter.close(timeout=10)
    assert statuses(github) == [("pending", "running"), ("error", "KILLED after 4.0s")]
    assert github.invalid() == []


def test_the_standin_rejects_what_github_would(github: GitHubStandIn) -> None:
    """The validation is real: a wrong state, a missing token, a wrong path are refused."""
    transport = Transport(RetryPolicy(delays=()))
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28"}
    for body, sent, path in [
        ({"state": "done", "context": "c"}, headers, f"/repos/o/r/statuses/{SHA}"),
        ({"state": "success", "description": 5}, headers, f"/repos/o/r/statuses/{SHA}"),
        ({"state": "success"}, {**headers, "Authorization": "Bearer nope"}, f"/repos/o/r/statuses/{SHA}"),
        ({"state": "success"}, {**headers, "X-GitHub-Api-Version": "2021"}, f"/repos/o/r/statuses/{SHA}"),
        ({"state": "success"}, headers, f"/repos/o/r/statutes/{SHA}"),
    ]:
        with pytest.raises(HttpError, match=r"422|401"):
            transport.request("POST", github.url + path, body, headers=sent)
    errors = [r.errors for r in github.invalid()]
    assert len(errors) == 5
    assert "is not one of" in errors[0][0] and "is not of type" in errors[1][0]
    assert errors[2] == ("auth: unknown or expired token",)
    assert "X-GitHub-Api-Version" in errors[3][0] and "no operation" in errors[4][0]


def test_5xx_answers_are_retried_with_backoff(github: GitHubStandIn) -> None:
    github.fail("POST", "/statuses/", 502, times=2)
    sleeps = Sleeps()
    reporter = make_reporter(github.url, sleeps)
    reporter.pending()
    assert reporter.close(timeout=10)
    assert [r.status for r in github.calls("POST")] == [502, 502, 201]
    assert sleeps.calls == [0.5, 1.0] and reporter.errors == []


def test_4xx_answers_are_not_retried(github: GitHubStandIn) -> None:
    github.fail("POST", "/statuses/", 404, times=1)
    reporter = make_reporter(github.url)
    reporter.pending()
    assert reporter.close(timeout=10)
    assert [r.status for r in github.calls("POST")] == [404]
    assert len(reporter.errors) == 1 and "404" in reporter.errors[0]


def test_an_api_that_is_down_does_not_fail_the_run(tmp_path: Path) -> None:
    down = GitHubStandIn(github_openapi(), token=TOKEN)
    url = down.url
    down.stop()
    sleeps = Sleeps()
    reporter = make_reporter(url, sleeps)
    assert run_flow(SUCCEEDS, reporter, tmp_path) is State.SUCCESS
    assert len(reporter.errors) == 2  # pending and success, each after 4 tries
    assert sleeps.calls == [0.5, 1.0, 2.0] * 2


def test_the_token_never_appears_in_logs(github: GitHubStandIn, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    github.fail("POST", "/statuses/", 502, times=1, body={"message": f"echo {TOKEN}"})
    github.fail("POST", "/statuses/", 403, times=1, body={"message": f"bad credentials {TOKEN}"})
    reporter = make_reporter(github.url)
    run_flow(FAILS, reporter, tmp_path)
    assert "502" in caplog.text and "403" in caplog.text
    assert TOKEN not in caplog.text and TOKEN not in " ".join(reporter.errors)
    assert all(TOKEN not in str(r.headers) for r in github.requests)


def _at(seconds: float) -> dt.datetime:
    return dt.datetime(2026, 1, 2, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
