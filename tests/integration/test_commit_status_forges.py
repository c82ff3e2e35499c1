"""Gitea and GitLab commit statuses, and failure alerts, against recording stand-ins."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator

import pytest

from runner.events import ExecutionStateChanged, State
from runner.http import RetryPolicy, Transport
from runner.reporters.commit_status import StatusReporter
from runner.reporters.notify import notify_failure
from tests.standins.forges import GiteaStandIn, GitLabStandIn, WebhookStandIn

TOKEN = "forge-token-never-logged-0001"
SHA = "0123456789abcdef0123456789abcdef01234567"
T0 = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


@pytest.fixture
def gitea() -> Iterator[GiteaStandIn]:
    with GiteaStandIn(TOKEN) as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def gitlab() -> Iterator[GitLabStandIn]:
    with GitLabStandIn(TOKEN) as standin:
        yield standin  # type: ignore[misc]


def report(provider: str, url: str, final: State, repo: str = "octo/hello") -> StatusReporter:
    reporter = StatusReporter(provider, url, TOKEN, repo, SHA, "demo.hello",
                              "http://ui.example/executions/E1",
                              transport=Transport(RetryPolicy(timeout=5), sleep=lambda _: None))
    reporter.pending()
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, T0))
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", final, T0 + dt.timedelta(seconds=2)))
    assert reporter.close(timeout=10)
    return reporter


@pytest.mark.parametrize(("final", "expected"), [
    (State.SUCCESS, "success"), (State.WARNING, "warning"), (State.FAILED, "failure"),
    (State.KILLED, "error"), (State.CANCELLED, "error")])
def test_gitea_statuses(gitea: GiteaStandIn, final: State, expected: str) -> None:
    reporter = report("gitea", gitea.url, final)
    assert gitea.invalid() == [] and reporter.errors == []
    assert [s["status"] for s in gitea.statuses] == ["pending", expected]
    assert {s["context"] for s in gitea.statuses} == {"flows/demo.hello"}
    assert gitea.requests[0].path == f"/api/v1/repos/octo/hello/statuses/{SHA}"
    assert gitea.requests[0].headers["Authorization"] == "token ***"


@pytest.mark.parametrize(("final", "expected"), [
    (State.SUCCESS, "success"), (State.WARNING, "success"), (State.FAILED, "failed"),
    (State.KILLED, "canceled"), (State.CANCELLED, "canceled")])
def test_gitlab_statuses(gitlab: GitLabStandIn, final: State, expected: str) -> None:
    reporter = report("gitlab", gitlab.url, final, repo="group/sub/hello")
    assert gitlab.invalid() == [] and reporter.errors == []
    assert [s["status"] for s in gitlab.statuses] == ["pending", "running", expected]
    assert {s["name"] for s in gitlab.statuses} == {"flows/demo.hello"}
    assert {r.path for r in gitlab.requests} == {
        f"/api/v4/projects/group%2Fsub%2Fhello/statuses/{SHA}"}
    assert "2.0s" in gitlab.statuses[-1]["description"]


def test_gitlab_refuses_a_wrong_token(gitlab: GitLabStandIn) -> None:
    reporter = StatusReporter("gitlab", gitlab.url, "wrong", "g/p", SHA, "demo.hello")
    reporter.pending()
    assert reporter.close(timeout=10)
    assert [r.status for r in gitlab.requests] == [401] and len(reporter.errors) == 1


# -- failure alerts --------------------------------------------------------------------------
EXECUTION = {
    "id": "E1", "namespace": "demo", "flowId": "hello", "state": {"current": "FAILED"},
    "taskRunList": [{"taskId": "build", "state": {"current": "FAILED"}}],
    "trigger": {"repo": "octo/hello", "commit": SHA},
    "logs": [{"taskId": "build", "level": "ERROR", "message": "command exited with code 2"}],
}


def test_failure_alerts_reach_every_url_with_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with WebhookStandIn() as hooks, WebhookStandIn() as slack:
        hooks.fail("POST", "/alerts", 502, times=1)
        sleeps: list[float] = []
        transport = Transport(RetryPolicy(timeout=5), sleep=sleeps.append)
        assert notify_failure([f"{hooks.url}/alerts"], EXECUTION, transport=transport) == [True]
        assert notify_failure([f"{slack.url}/services/T0/B0/secretpart"], EXECUTION, slack=True,
                              transport=transport) == [True]
        assert sleeps == [0.5]
        assert [r.status for r in hooks.requests] == [502, 200]
        alert = hooks.requests[-1].body
        assert (alert["flow"], alert["execution"], alert["state"], alert["commit"],
                alert["failedTask"]) == ("demo.hello", "E1", "FAILED", SHA, "build")
        assert alert["logTail"] == ["command exited with code 2"]
        assert list(slack.requests[0].body) == ["text"]
        assert "*demo.hello* FAILED at task `build`" in slack.requests[0].body["text"]
        assert hooks.invalid() == [] and slack.invalid() == []
    down = WebhookStandIn()
    url = f"{down.url}/services/T0/B0/secretpart"
    down.stop()
    assert notify_failure([url], EXECUTION, transport=transport) == [False]
    assert "secretpart" not in caplog.text


def test_a_pending_posted_at_enqueue_is_not_posted_again_by_the_run(gitlab: GitLabStandIn) -> None:
    """GitLab refuses a repeated state: the run's reporter continues the queued one."""
    queued = StatusReporter("gitlab", gitlab.url, TOKEN, "g/p", SHA, "demo.hello")
    queued.pending()
    assert queued.close(timeout=10)
    run = StatusReporter("gitlab", gitlab.url, TOKEN, "g/p", SHA, "demo.hello",
                         **queued.handover())
    run.pending()
    run.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, T0))
    run.emit(ExecutionStateChanged("E1", "demo.hello", State.SUCCESS, T0))
    assert run.close(timeout=10)
    assert gitlab.invalid() == [] and run.errors == []
    assert [s["status"] for s in gitlab.statuses] == ["pending", "running", "success"]


def test_timeouts_are_retried_then_given_up_without_raising() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host, port = silent.getsockname()
        sleeps: list[float] = []
        reporter = StatusReporter("gitea", f"http://{host}:{port}", TOKEN, "o/r", SHA, "demo.hello",
                                  transport=Transport(RetryPolicy(timeout=0.2), sleep=sleeps.append))
        reporter.pending()
        assert reporter.close(timeout=10)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(reporter.errors) == 1 and "no answer" in reporter.errors[0]
