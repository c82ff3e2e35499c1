"""Failure alerts: the server's `notify:` targets (JSON or Slack webhooks, SMTP e-mail) and the
Slack / MailSend tasks in a flow's `errors` branch, against local stand-ins (an HTTP server,
a tiny SMTP receiver)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from runner.errors import UsageError
from runner.reporters.notify import EmailAlert, WebhookAlert, send_alerts
from tests.conftest import Server, run_cli
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call
from tests.unit.test_plugins_notifications import SlackStandIn, SmtpStandIn, _b64
from tests.waiting import CEILING
from webhooks.config import load_config
from webhooks.runs.reporting import Reporting

EXECUTION = {
    "id": "E1", "namespace": "demo", "flowId": "hello", "state": {"current": "FAILED"},
    "taskRunList": [{"taskId": "build", "state": {"current": "FAILED"}}],
    "trigger": {"repo": "octo/hello", "commit": "c0ffee" * 6},
    "logs": [{"taskId": "build", "level": "INFO", "message": "compiling"},
             {"taskId": "build", "level": "ERROR", "message": "command exited with code 2"}],
}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpStandIn]:
    stand_in = SmtpStandIn()
    yield stand_in
    stand_in.sock.close()


def parsed(mail: dict[str, Any]) -> EmailMessage:
    message = email.message_from_bytes(mail["data"], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def wait_for(what: Callable[[], Any], timeout: float = CEILING) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_notify_config_forms_and_errors(tmp_path: Path) -> None:
    config = tmp_path / "serve.yml"
    config.write_text("""\
notify:
  - https://hooks.example/plain
  - url: https://hooks.slack.com/services/T/B/X
    format: slack
  - email:
      to: ops@example.com
      from: gitflows@example.com
      host: smtp.example.com
      username_env: SMTP_USER
      password_env: SMTP_PASSWORD
""")
    assert load_config(config).notify == (
        WebhookAlert("https://hooks.example/plain", "json"),
        WebhookAlert("https://hooks.slack.com/services/T/B/X", "slack"),
        EmailAlert(("ops@example.com",), "gitflows@example.com", "smtp.example.com", None,
                   "SMTP_TLS", "SMTP_USER", "SMTP_PASSWORD"))
    config.write_text("notify:\n  - url: https://x.example/\n    format: pager\n")
    with pytest.raises(UsageError, match=r"serve.yml:2:\d+: format must be json or slack or teams "
                                         r"or discord or google_chat or telegram, got 'pager'"):
        load_config(config)
    config.write_text("notify:\n  - https://x.example/\n  - email: {to: a@example.com}\n")
    with pytest.raises(UsageError, match=r"serve.yml:3:\d+: an email alert needs to, from and host"):
        load_config(config)


def test_alerts_go_out_as_json_slack_and_mail(slack: SlackStandIn, smtp: SmtpStandIn) -> None:
    mail = EmailAlert(("ops@example.com", "dev@example.com"), "gitflows@example.com", "127.0.0.1",
                      smtp.port, "SMTP", "SMTP_USER", "SMTP_PASSWORD")
    delivered = send_alerts([WebhookAlert(slack.url), WebhookAlert(slack.url, "slack"), mail],
                            EXECUTION, environ={"SMTP_USER": "robot", "SMTP_PASSWORD": "pw-123"})
    assert delivered == [True, True, True]
    (_, _, summary), (_, _, message) = slack.received
    assert summary["failedTask"] == "build" and summary["execution"] == "E1"
    assert list(message) == ["text"] and "*demo.hello* FAILED at task `build`" in message["text"]
    [sent] = smtp.mails
    assert sent["rcpt"] == ["<ops@example.com>", "<dev@example.com>"]
    assert smtp.auth == ["\0robot\0pw-123"]
    body = parsed(sent)
    assert body["Subject"] == "[gitflows] demo.hello FAILED at build"
    text = body.get_content()
    assert "Execution: E1" in text and "command exited with code 2" in text
    assert send_alerts([mail], {**EXECUTION, "state": {"current": "SUCCESS"}}) == []


def test_unreachable_mail_server_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mail = EmailAlert(("ops@example.com",), "gitflows@example.com", "127.0.0.1", port, "SMTP")
    assert send_alerts([mail], EXECUTION) == [False]


BROKEN = """\
id: broken
namespace: demo
tasks:
  - id: build
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ["echo compiling", "exit 3"]
"""


def test_the_server_mails_and_posts_when_a_run_fails(tmp_path: Path, slack: SlackStandIn,
                                                     smtp: SmtpStandIn) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/broken.yml", BROKEN, "flow")
    config = tmp_path / "serve.yml"
    config.write_text(f"""\
repos:
  - name: demo
    location: {repo}
notify:
  - url: {slack.url}
    format: slack
  - email:
      to: [ops@example.com]
      from: gitflows@example.com
      host: 127.0.0.1
      port: {smtp.port}
      strategy: SMTP
      username_env: ALERT_SMTP_USER
      password_env: ALERT_SMTP_PASSWORD
""")
    server = Server(["--config", str(config), "--data", str(tmp_path / "data"),
                     "--executor", "process"], log=tmp_path / "serve.log", cwd=repo,
                    env={"ALERT_SMTP_USER": "robot", "ALERT_SMTP_PASSWORD": "smtp-s3cret"})
    try:
        status, started = call(server.base, "POST", "/api/v1/executions/demo/broken", body={})
        assert status == 200, started
        [mail] = wait_for(lambda: smtp.mails)
        [(_, _, message)] = wait_for(lambda: slack.received)
    finally:
        server.stop()
    body = parsed(mail)
    assert body["Subject"] == "[gitflows] demo.broken FAILED at build"
    assert f"Execution: {started['id']}" in body.get_content()
    assert "command exited with code 3" in body.get_content()
    assert smtp.auth == ["\0robot\0smtp-s3cret"]
    assert message["text"].startswith(":x: *demo.broken* FAILED at task `build`")
    assert "smtp-s3cret" not in (tmp_path / "serve.log").read_text()


def test_slack_and_mail_tasks_in_an_errors_branch(write_flow: Callable[..., Path],
                                                  slack: SlackStandIn, smtp: SmtpStandIn) -> None:
    flow = write_flow(f"""
        id: guarded
        namespace: demo
        tasks:
          - id: build
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            commands: ["exit 4"]
        errors:
          - id: tell_slack
            type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
            url: {slack.url}
            messageText: "{{{{ flow.id }}}} {{{{ execution.id }}}} failed at {{{{ errorLogs()[0].taskId }}}}"
          - id: tell_ops
            type: io.kestra.plugin.notifications.mail.MailSend
            host: 127.0.0.1
            port: {smtp.port}
            transportStrategy: SMTP
            username: robot
            password: "{{{{ secret('SMTP_PASSWORD') }}}}"
            from: gitflows@example.com
            to: ops@example.com
            subject: "{{{{ flow.id }}}} failed at {{{{ errorLogs()[0].taskId }}}}"
            plainTextContent: "{{{{ execution.id }}}}: {{{{ errorLogs()[0].message }}}}"
    """)
    result = run_cli("run", str(flow), "--executor", "process", "--json",
                     env={"SECRET_SMTP_PASSWORD": _b64("mail-pa55")})
    assert result.returncode == 1  # the flow still failed; its errors branch ran
    execution = json.loads(result.stdout)
    states = {r["taskId"]: r["state"]["current"] for r in execution["taskRunList"]}
    assert states == {"build": "FAILED", "tell_slack": "SUCCESS", "tell_ops": "SUCCESS"}
    assert slack.received[0][2] == {"text": f"guarded {execution['id']} failed at build"}
    [mail] = smtp.mails
    body = parsed(mail)
    assert body["Subject"] == "guarded failed at build"
    assert body.get_content().strip() == f"{execution['id']}: command exited with code 4"
    assert "mail-pa55" not in result.stdout + result.stderr


@pytest.mark.parametrize("public_url", [None, "https://ci.example.org/"])
def test_a_server_alert_links_to_the_execution_as_its_commit_status_does(
        tmp_path: Path, slack: SlackStandIn, public_url: str | None) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/broken.yml", BROKEN, "flow")
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: demo\n    location: {repo}\nnotify:\n"
                      f"  - {slack.url}\n  - url: {slack.url}\n    format: slack\n"
                      + (f"public_url: {public_url}\n" if public_url else ""))
    server = Server(["--config", str(config), "--data", str(tmp_path / "data"),
                     "--executor", "process"], log=tmp_path / "serve.log", cwd=repo)
    try:
        status, started = call(server.base, "POST", "/api/v1/executions/demo/broken", body={})
        assert status == 200, started
        received = wait_for(lambda: slack.received if len(slack.received) == 2 else None)
    finally:
        server.stop()
    base = public_url.rstrip("/") if public_url else f"http://127.0.0.1:{server.port}"
    link = f"{base}/ui/executions/{started['id']}"
    [summary] = [body for _, _, body in received if "text" not in body]
    [message] = [body for _, _, body in received if "text" in body]
    assert summary["execution"] == started["id"] and summary["url"] == link, summary
    assert f"<{link}|details>" in message["text"]
    # the one function commit statuses take their target_url from gives the same link
    served = replace(load_config(config), port=server.port)
    assert Reporting(served, {}).link(started["id"]) == link
