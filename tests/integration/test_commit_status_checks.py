"""GitHub check runs as a GitHub App, against the OpenAPI-validating stand-in: JWT →
installation token (verified with the app's public key), create → complete with
annotations 50 per request, tokens renewed before expiry, fallback to statuses on 403."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.events import (
    Collect,
    ExecutionStateChanged,
    FanOut,
    LogLine,
    State,
    TaskRunStateChanged,
)
from runner.executors import Executors, LocalExecutor
from runner.forges.github_app import AppCredentials, GitHubApp
from runner.http import RetryPolicy, Transport
from runner.reporters.commit_status import StatusReporter
from runner.reporters.status_text import files_in, files_under
from tests.standins.fixtures import github_openapi
from tests.standins.github import GitHubStandIn
from tests.standins.keys import KeyPair, rsa_key_pair
from tests.unit.engine_helpers import flow_of

APP_ID = "98765"
REPO = "octocat/Hello-World"
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


class FakeClock:
    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return rsa_key_pair(tmp_path_factory.mktemp("app-key"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github(keys: KeyPair, clock: FakeClock) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(github_openapi(), app_id=APP_ID, app_public_key=keys.public_file,
                       clock=clock.now) as standin:
        yield standin  # type: ignore[misc]


def make_app(github: GitHubStandIn, keys: KeyPair, clock: FakeClock,
             installation_id: int | None = None) -> GitHubApp:
    credentials = AppCredentials.load(APP_ID, key_env="KEY", environ={"KEY": keys.private_pem},
                                      installation_id=installation_id)
    transport = Transport(RetryPolicy(timeout=5), sleep=lambda _: None)
    return GitHubApp(credentials, github.url, transport=transport, clock=clock)


def make_reporter(github: GitHubStandIn, app: GitHubApp, clock: FakeClock, **kw: object) -> StatusReporter:
    return StatusReporter("github", github.url, None, REPO, SHA, "demo.hello",
                          "http://ui.example/executions/E1", app=app, clock=clock,
                          execution_id="E1", **kw)  # type: ignore[arg-type]


def failed_run(reporter: StatusReporter, clock: FakeClock, lines: list[str]) -> None:
    reporter.pending()
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, clock.now()))
    reporter.emit(TaskRunStateChanged("E1", "TR1", "lint", None, 1, State.RUNNING, clock.now()))
    for line in lines:
        reporter.emit(LogLine("E1", "TR1", "lint", 1, "WARN", line, clock.now()))
    reporter.emit(LogLine("E1", "TR1", "lint", 1, "ERROR", "command exited with code 1", clock.now()))
    reporter.emit(TaskRunStateChanged("E1", "TR1", "lint", None, 1, State.FAILED, clock.now()))
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.FAILED, clock.now()))
    assert reporter.close(timeout=20)


def test_a_check_run_is_created_then_completed_with_annotations_fifty_at_a_time(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock) -> None:
    files = {f"src/mod{n}.py" for n in range(120)}
    reporter = make_reporter(github, make_app(github, keys, clock), clock, repo_files=files_in(files))
    lines = [f"src/mod{n}.py:{n + 1}:2: error: E{n} bad thing" for n in range(120)]
    failed_run(reporter, clock, [*lines, "unrelated.py:1: error: not in the repository"])
    assert github.invalid() == [] and reporter.errors == []
    calls = [(r.method, r.operation, r.status) for r in github.requests]
    assert calls == [
        ("GET", "apps/get-repo-installation", 200),
        ("POST", "apps/create-installation-access-token", 201),
        ("POST", "checks/create", 201),
        ("PATCH", "checks/update", 200),
        ("PATCH", "checks/update", 200), ("PATCH", "checks/update", 200),
        ("PATCH", "checks/update", 200)]
    create, running, done = (r.body for r in github.requests[2:5])
    assert create == {"name": "flows/demo.hello", "head_sha": SHA, "status": "queued",
                      "external_id": "E1", "details_url": "http://ui.example/executions/E1"}
    assert running["status"] == "in_progress"
    assert done["conclusion"] == "failure" and done["output"]["title"] == "FAILED at task lint"
    assert [len(r.body["output"]["annotations"]) for r in github.requests[4:]] == [50, 50, 20]
    (run,) = github.check_runs.values()
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert len(run["annotations"]) == 120
    assert run["annotations"][0] == {"path": "src/mod0.py", "start_line": 1, "end_line": 1,
                                     "start_column": 2, "end_column": 2,
                                     "annotation_level": "failure", "message": "error: E0 bad thing"}
    assert "command exited with code 1" in run["output"]["text"]
    assert "FAILED at task lint: src/mod0.py:1:2: error: E0 bad thing" in run["output"]["summary"]


def test_a_real_failed_run_annotates_the_file_of_the_checkout(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "app.py").write_text("print(x)\n")
    reporter = make_reporter(github, make_app(github, keys, clock, installation_id=77), clock,
                             repo_files=files_under(checkout))
    engine = Engine(Executors(LocalExecutor()), FanOut(Collect(), reporter), environ={},
                    data_dir=tmp_path / "data", work_root=tmp_path / "work")
    reporter.pending()
    engine.run(flow_of("""
        id: hello
        namespace: demo
        tasks:
          - id: build
            type: io.kestra.plugin.scripts.shell.Commands
            commands:
              - 'echo "src/app.py:1:7: error: undefined name x" >&2'
              - exit 1
        """))
    assert reporter.close(timeout=20)
    assert github.invalid() == [] and reporter.errors == []
    assert "/app/installations/77/access_tokens" in github.requests[0].path
    (run,) = github.check_runs.values()
    assert run["conclusion"] == "failure"
    assert run["annotations"] == [{"path": "src/app.py", "start_line": 1, "end_line": 1,
                                   "start_column": 7, "end_column": 7,
                                   "annotation_level": "failure",
                                   "message": "error: undefined name x"}]


def test_installation_tokens_are_cached_and_renewed_before_they_expire(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock) -> None:
    app = make_app(github, keys, clock)
    first = app.token(REPO)
    clock.advance(minutes=50)
    assert app.token(REPO) == first  # 10 minutes left: still good
    clock.advance(minutes=6)
    second = app.token(REPO)  # 4 minutes left: inside the 5-minute margin, renewed
    assert second != first
    assert len(github.calls("POST", "/access_tokens")) == 2
    assert len(github.calls("GET", "/installation")) == 1  # the installation id is cached too
    clock.advance(minutes=61)  # both expired: a report must fetch a third
    reporter = make_reporter(github, app, clock)
    reporter.skipped()
    assert reporter.close(timeout=10)
    assert github.invalid() == [] and reporter.errors == []
    assert len(github.calls("POST", "/access_tokens")) == 3


def test_a_long_run_renews_its_token_between_create_and_complete(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock) -> None:
    reporter = make_reporter(github, make_app(github, keys, clock), clock, background=False)
    reporter.pending()
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, clock.now()))
    clock.advance(minutes=90)  # the first token has expired meanwhile
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.SUCCESS, clock.now()))
    assert reporter.close(timeout=10)
    assert github.invalid() == [] and reporter.errors == []
    assert [r.operation for r in github.requests] == [
        "apps/get-repo-installation", "apps/create-installation-access-token", "checks/create",
        "checks/update", "apps/create-installation-access-token", "checks/update"]
    (run,) = github.check_runs.values()
    assert (run["conclusion"], run["output"]["title"]) == ("success", "SUCCESS in 1h 30m")


def test_checks_forbidden_falls_back_to_commit_statuses(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock) -> None:
    github.fail("POST", r"/check-runs$", 403, times=None,
                body={"message": "Resource not accessible by integration"})
    reporter = make_reporter(github, make_app(github, keys, clock), clock)
    reporter.pending()
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, clock.now()))
    clock.advance(seconds=3)
    reporter.emit(ExecutionStateChanged("E1", "demo.hello", State.SUCCESS, clock.now()))
    assert reporter.close(timeout=10)
    assert github.invalid() == [] and reporter.errors == [] and reporter.mode == "statuses"
    posted = [(r.body["state"], r.body["description"]) for r in github.calls("POST", "/statuses/")]
    assert posted == [("pending", "queued"), ("success", "SUCCESS in 3.0s")]


def test_forbidden_on_completion_still_reports_the_final_state(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock) -> None:
    github.fail("PATCH", r"/check-runs/\d+$", 403, times=None)
    reporter = make_reporter(github, make_app(github, keys, clock), clock)
    failed_run(reporter, clock, ["boom"])
    assert github.invalid() == [] and reporter.errors == []
    assert [r.body["state"] for r in github.calls("POST", "/statuses/")] == ["pending", "failure"]


def test_skipped_flows_get_a_skipped_check_run(github: GitHubStandIn, keys: KeyPair,
                                               clock: FakeClock) -> None:
    reporter = make_reporter(github, make_app(github, keys, clock), clock)
    reporter.skipped()
    assert reporter.close(timeout=10)
    assert github.invalid() == []
    (run,) = github.check_runs.values()
    assert (run["status"], run["conclusion"]) == ("completed", "skipped")
    assert run["output"]["title"] == "skipped: [skip ci]"


def test_an_app_that_cannot_authenticate_falls_back_to_the_token(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock, tmp_path: Path) -> None:
    github.tokens.add("ghp_plain")
    other = rsa_key_pair(tmp_path / "other")  # not the app's key: the JWT does not verify
    credentials = AppCredentials(APP_ID, other.private_pem)
    app = GitHubApp(credentials, github.url, transport=Transport(RetryPolicy(delays=())),
                    clock=clock)
    reporter = StatusReporter("github", github.url, "ghp_plain", REPO, SHA, "demo.hello", app=app,
                              clock=clock)
    reporter.pending()
    assert reporter.close(timeout=10)
    assert [r.status for r in github.requests] == [401, 201]
    assert github.requests[0].errors == ("auth: JWT signature does not verify with the app's "
                                         "public key",)
    assert github.requests[1].body["state"] == "pending"


def test_the_run_completes_the_check_run_created_at_enqueue(
        github: GitHubStandIn, keys: KeyPair, clock: FakeClock) -> None:
    app = make_app(github, keys, clock)
    queued = make_reporter(github, app, clock)
    queued.pending()
    assert queued.close(timeout=10)
    assert queued.handover() == {"pending_sent": True, "check_run_id": 1000}
    run = make_reporter(github, app, clock, **queued.handover())
    run.pending()
    run.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, clock.now()))
    run.emit(ExecutionStateChanged("E1", "demo.hello", State.WARNING, clock.now()))
    assert run.close(timeout=10)
    assert github.invalid() == [] and run.errors == []
    assert [r.operation for r in github.requests if r.operation.startswith("checks")] == [
        "checks/create", "checks/update", "checks/update"]
    (check_run,) = github.check_runs.values()
    assert (check_run["status"], check_run["conclusion"]) == ("completed", "neutral")
