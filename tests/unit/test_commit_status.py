"""Commit status reporter logic without a network: texts, state mappings, requests,
annotations, the event → report sequence (with a recording transport), alerts, JWT."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.events import ExecutionStateChanged, LogLine, State, TaskRunStateChanged
from runner.forges.github_app import AppAuthError, AppCredentials, app_jwt
from runner.forges.status import CONCLUSIONS, Outcome, Target, outcome_of, status_request
from runner.http import HttpError, Response
from runner.reporters.commit_status import StatusReporter, context_for
from runner.reporters.notify import failure_summary, notify_failure, slack_message
from runner.reporters.status_text import (
    Annotation,
    RunSummary,
    batches,
    clean,
    files_in,
    files_under,
    parse_annotation,
    truncate,
)
from tests.standins.keys import rsa_key_pair

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"


class Recording:
    """A Transport stand-in: records requests, answers from a script (default 201)."""

    def __init__(self, *answers: Exception | int) -> None:
        self.sent: list[tuple[str, str, Any, dict[str, str]]] = []
        self.answers = list(answers)

    def request(self, method: str, url: str, body: Any = None, *,
                headers: dict[str, str] | None = None, secrets: Any = ()) -> Response:
        self.sent.append((method, url, body, dict(headers or {})))
        answer = self.answers.pop(0) if self.answers else 201
        if isinstance(answer, Exception):
            raise answer
        if answer >= 400:
            raise HttpError(method, url, answer, "scripted")
        return Response(answer, {"id": 7})


class FixedClock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


def reporter(provider: str = "github", transport: Any = None, **kwargs: Any) -> StatusReporter:
    return StatusReporter(provider, "https://forge.example", "s3cret-token", "octo/hello", SHA,
                          "demo.hello", "https://ci.example/ui/executions/E1",
                          transport=transport or Recording(), background=False, **kwargs)


def run_events(final: State, task_lines: list[tuple[str, str]] = (),  # type: ignore[assignment]
               seconds: float = 12.3) -> list[Any]:
    at = T0
    events: list[Any] = [ExecutionStateChanged("E1", "demo.hello", State.RUNNING, at),
                         TaskRunStateChanged("E1", "TR1", "build", None, 1, State.RUNNING, at)]
    events += [LogLine("E1", "TR1", "build", 1, level, message, at)
               for level, message in task_lines]
    task_state = State.FAILED if final is State.FAILED else State.SUCCESS
    end = at + dt.timedelta(seconds=seconds)
    events += [TaskRunStateChanged("E1", "TR1", "build", None, 1, task_state, end),
               ExecutionStateChanged("E1", "demo.hello", final, end)]
    return events


# -- texts ----------------------------------------------------------------------------
def test_descriptions_name_the_state_the_time_and_the_failure() -> None:
    assert RunSummary("demo.hello", State.SUCCESS, 12.34).description() == "SUCCESS in 12.3s"
    assert RunSummary("d.h", State.WARNING, 125).description() == "WARNING in 2m 5s"
    assert RunSummary("d.h", State.FAILED, 3, "build", "error: boom\nmore").description() == \
        "FAILED at task build: error: boom more"
    assert RunSummary("d.h", State.FAILED, 3.04, "build").description() == \
        "FAILED at task build in 3.0s"
    assert RunSummary("d.h", State.KILLED, 3.04).description() == "KILLED after 3.0s"
    assert RunSummary("d.h", State.QUEUED).description() == "queued"
    assert RunSummary("d.h", State.SKIPPED, reason="skipped: [skip ci]").description() == \
        "skipped: [skip ci]"


def test_long_descriptions_are_cut_at_140_characters_with_an_ellipsis() -> None:
    text = RunSummary("d.h", State.FAILED, 1, "build", "x" * 500).description()
    assert len(text) == 140 and text.endswith("…")
    assert truncate("short") == "short"
    assert truncate("ab" * 100, 10) == "ababababa…"


def test_clean_makes_one_printable_line() -> None:
    assert clean("\x1b[31merror\x1b[0m:\tboom\r\n  next ") == "error: boom next"
    assert clean("bad \ud800 surrogate").encode("utf-8")


def test_run_summary_text_keeps_the_tail_within_githubs_limit() -> None:
    summary = RunSummary("d.h", State.FAILED, 1, "build", "boom", tuple("y" * 3000 for _ in range(50)))
    text = summary.text()
    assert text is not None and len(text) <= 65535 and text.startswith("Last ")
    assert RunSummary("d.h", State.SUCCESS).text() is None


# -- mappings and requests -------------------------------------------------------------
@pytest.mark.parametrize(("provider", "state", "expected"), [
    ("github", State.QUEUED, "pending"), ("github", State.SUCCESS, "success"),
    ("github", State.WARNING, "success"), ("github", State.FAILED, "failure"),
    ("github", State.KILLED, "error"), ("github", State.CANCELLED, "error"),
    ("gitea", State.WARNING, "warning"), ("gitea", State.FAILED, "failure"),
    ("gitea", State.KILLED, "error"), ("gitlab", State.RUNNING, "running"),
    ("gitlab", State.FAILED, "failed"), ("gitlab", State.KILLED, "canceled"),
    ("gitlab", State.CANCELLED, "canceled"), ("gitlab", State.WARNING, "success"),
])
def test_states_map_to_each_forges_status_states(provider: str, state: State, expected: str) -> None:
    target = Target(provider, "https://forge.example", "octo/hello", SHA, "flows/demo.hello")
    assert status_request(target, "t", outcome_of(state), "d").body["state"] == expected  # type: ignore[index]


def test_states_map_to_check_run_conclusions() -> None:
    states = [State.SUCCESS, State.WARNING, State.FAILED, State.KILLED, State.CANCELLED,
              State.SKIPPED]
    assert [CONCLUSIONS[outcome_of(s)] for s in states] == [
        "success", "neutral", "failure", "cancelled", "cancelled", "skipped"]
    assert outcome_of(State.PAUSED) is Outcome.RUNNING and outcome_of(State.CREATED) is Outcome.PENDING


def test_requests_use_each_forges_endpoint_and_token_header() -> None:
    def request(provider: str, api: str, repo: str = "octo/hello") -> Any:
        return status_request(Target(provider, api, repo, SHA, "flows/d.h", "https://ui/x"),
                              "tok", Outcome.SUCCESS, "ok")

    github = request("github", "https://api.github.com/")
    assert github.url == f"https://api.github.com/repos/octo/hello/statuses/{SHA}"
    assert github.headers["Authorization"] == "Bearer tok"
    assert github.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert github.body == {"state": "success", "description": "ok", "context": "flows/d.h",
                           "target_url": "https://ui/x"}
    assert request("github", "").url.startswith("https://api.github.com/repos/")
    gitea = request("gitea", "https://gitea.example")
    assert gitea.url == f"https://gitea.example/api/v1/repos/octo/hello/statuses/{SHA}"
    assert gitea.headers == {"Authorization": "token tok"}
    assert request("gitea", "https://gitea.example/api/v1").url == gitea.url
    gitlab = request("gitlab", "https://gitlab.example", "group/sub/project")
    assert gitlab.url == f"https://gitlab.example/api/v4/projects/group%2Fsub%2Fproject/statuses/{SHA}"
    assert gitlab.headers == {"PRIVATE-TOKEN": "tok"}
    assert gitlab.body["name"] == "flows/d.h" and "context" not in gitlab.body


def test_context_is_flows_namespace_id() -> None:
    assert context_for("company.team.build") == "flows/company.team.build"


# -- annotations -------------------------------------------------------------------------
def test_annotations_are_parsed_from_log_lines_naming_repository_files(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x\n")
    known = files_under(tmp_path)
    found = parse_annotation("src/app.py:3:5: error: undefined name x", "WARN", known)
    assert found == Annotation("src/app.py", 3, "failure", "error: undefined name x", 5)
    assert parse_annotation("./src/app.py:7: warning: unused", "INFO", known) == \
        Annotation("src/app.py", 7, "warning", "warning: unused")
    absolute = parse_annotation("/work/checkout-1/src/app.py:2: E501 too long", "ERROR", known)
    assert absolute is not None and absolute.path == "src/app.py" and absolute.level == "failure"
    assert parse_annotation("other.py:1: nope", "ERROR", known) is None
    assert parse_annotation("../src/app.py:1: outside", "ERROR", known) is None
    assert parse_annotation("src/app.py: no line", "ERROR", known) is None
    assert parse_annotation("src/app.py:1: note: hello", "ERROR", files_in({"src/app.py"})) == \
        Annotation("src/app.py", 1, "notice", "note: hello")
    assert found.to_github() == {"path": "src/app.py", "start_line": 3, "end_line": 3,
                                 "annotation_level": "failure", "start_column": 5,
                                 "end_column": 5, "message": "error: undefined name x"}


def test_annotations_are_sent_fifty_at_a_time() -> None:
    items = [Annotation("a.py", n, "failure", "m") for n in range(1, 121)]
    assert [len(b) for b in batches(items)] == [50, 50, 20]
    assert batches([]) == []


# -- the reporter's sequence ---------------------------------------------------------------
def test_a_failed_run_reports_pending_then_failure_at_the_failed_task() -> None:
    transport = Recording()
    r = reporter(transport=transport)
    r.pending()
    for event in run_events(State.FAILED, [("INFO", "compiling"),
                                           ("WARN", "src/app.py:3:5: error: undefined name x"),
                                           ("ERROR", "command exited with code 2")]):
        r.emit(event)
    assert r.close()
    states = [(body["state"], body["description"]) for _, _, body, _ in transport.sent]
    assert states == [("pending", "queued"),
                      ("failure", "FAILED at task build: src/app.py:3:5: error: undefined name x")]


def test_pending_is_sent_once_and_the_final_state_once() -> None:
    transport = Recording()
    r = reporter(transport=transport)
    r.pending()
    r.pending()
    for event in run_events(State.SUCCESS) + run_events(State.SUCCESS)[-1:]:
        r.emit(event)
    r.close(State.FAILED)
    assert [body["state"] for _, _, body, _ in transport.sent] == ["pending", "success"]


def test_gitlab_also_hears_running() -> None:
    transport = Recording()
    r = reporter("gitlab", transport=transport)
    r.pending()
    for event in run_events(State.KILLED):
        r.emit(event)
    assert [body["state"] for _, _, body, _ in transport.sent] == ["pending", "running", "canceled"]


def test_a_run_that_ends_without_a_final_event_is_reported_by_close() -> None:
    transport = Recording()
    r = reporter(transport=transport, clock=FixedClock(T0 + dt.timedelta(seconds=1)))
    r.emit(ExecutionStateChanged("E1", "demo.hello", State.RUNNING, T0))
    r.emit(LogLine("E1", None, None, 0, "ERROR", "internal error: RuntimeError('x')", T0))
    r.close(State.FAILED)
    assert [(b["state"], b["description"]) for _, _, b, _ in transport.sent] == [
        ("pending", "running"), ("failure", "FAILED after 1.0s: internal error: RuntimeError('x')")]


def test_skipped_flows_get_a_success_status_saying_why() -> None:
    transport = Recording()
    reporter("gitea", transport=transport).skipped()
    assert [(b["state"], b["description"]) for _, _, b, _ in transport.sent] == [
        ("success", "skipped: [skip ci]")]


def test_report_failures_never_reach_the_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    transport = Recording(RuntimeError("bug s3cret-token"), 500)
    r = reporter(transport=transport)
    r.pending()
    for event in run_events(State.SUCCESS):
        r.emit(event)
    r.emit("not an event")  # type: ignore[arg-type]
    assert r.close()
    assert [e.split(":")[0] for e in r.errors] == ["bug ******", "POST https"]
    assert "s3cret-token" not in caplog.text + "".join(r.errors)


def test_secrets_in_log_lines_are_masked_in_descriptions() -> None:
    transport = Recording()
    r = reporter(transport=transport, secrets=["hunter2-password"])
    for event in run_events(State.FAILED, [("ERROR", "login failed for hunter2-password")]):
        r.emit(event)
    assert "hunter2" not in json.dumps(transport.sent)


def test_without_a_token_nothing_is_sent() -> None:
    transport = Recording()
    r = StatusReporter("github", None, None, "octo/hello", SHA, "d.h", transport=transport,
                       background=False)
    r.pending()
    for event in run_events(State.SUCCESS):
        r.emit(event)
    assert r.close() and transport.sent == [] and not r.enabled
    with pytest.raises(ValueError, match="unknown provider"):
        StatusReporter("bitbucket", None, "t", "o/r", SHA, "d.h")


# -- failure alerts -------------------------------------------------------------------------
EXECUTION = {
    "id": "E1", "namespace": "demo", "flowId": "hello", "state": {"current": "FAILED"},
    "taskRunList": [{"taskId": "setup", "state": {"current": "SUCCESS"}},
                    {"taskId": "build", "state": {"current": "FAILED"}}],
    "trigger": {"repo": "octo/hello", "commit": SHA},
}
LOGS = [{"taskId": "setup", "level": "INFO", "message": "ok"},
        {"taskId": "build", "level": "INFO", "message": "compiling"},
        {"taskId": "build", "level": "ERROR", "message": "command exited with code 2"}]


def test_failure_summary_names_flow_commit_task_and_log_tail() -> None:
    summary = failure_summary(EXECUTION, LOGS)
    assert summary == {"flow": "demo.hello", "execution": "E1", "state": "FAILED",
                       "repo": "octo/hello", "commit": SHA, "failedTask": "build",
                       "error": "command exited with code 2",
                       "logTail": ["compiling", "command exited with code 2"], "url": None}
    text = slack_message(summary)["text"]
    assert text.startswith(":x: *demo.hello* FAILED at task `build`") and "compiling" in text


def test_alerts_go_out_for_failed_runs_only() -> None:
    transport = Recording(503)
    assert notify_failure(["https://a.example/x", "https://b.example/y"], EXECUTION, logs=LOGS,
                          transport=transport) == [False, True]  # type: ignore[arg-type]
    assert transport.sent[1][2]["failedTask"] == "build"
    assert notify_failure(["https://a.example/x"], {**EXECUTION, "state": {"current": "SUCCESS"}},
                          transport=transport) == []  # type: ignore[arg-type]


# -- GitHub App JWT --------------------------------------------------------------------------
def test_app_jwt_is_rs256_signed_and_verifies_with_the_public_key(tmp_path: Path) -> None:
    keys = rsa_key_pair(tmp_path)
    jwt = app_jwt("12345", keys.private_pem, T0)
    head, claims, signature = jwt.split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decode(head)) == {"alg": "RS256", "typ": "JWT"}
    assert json.loads(decode(claims)) == {"iat": int(T0.timestamp()) - 60,
                                          "exp": int(T0.timestamp()) + 540, "iss": "12345"}
    (tmp_path / "sig").write_bytes(decode(signature))
    verified = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(keys.public_file),
                               "-signature", str(tmp_path / "sig")],
                              input=f"{head}.{claims}".encode(), capture_output=True)
    assert verified.returncode == 0, verified.stderr


def test_app_credentials_come_from_a_file_or_the_environment(tmp_path: Path) -> None:
    keys = rsa_key_pair(tmp_path)
    assert AppCredentials.load(1, key_file=keys.private_file).private_key_pem == keys.private_pem
    loaded = AppCredentials.load("1", key_env="APP_KEY", environ={"APP_KEY": keys.private_pem})
    assert loaded.app_id == "1" and keys.private_pem not in repr(loaded)
    with pytest.raises(AppAuthError):
        AppCredentials.load(1, key_env="APP_KEY", environ={})
    with pytest.raises(AppAuthError, match="not a PEM"):
        AppCredentials.load(1, key_env="K", environ={"K": "nope"})
    with pytest.raises(AppAuthError, match="could not sign"):
        app_jwt("1", "-----BEGIN RSA PRIVATE KEY-----\ngarbage\n-----END RSA PRIVATE KEY-----\n", T0)
