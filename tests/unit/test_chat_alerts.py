"""Chat alerts beside Slack (Microsoft Teams, Discord, Google Chat, Telegram): the tasks and the
server's failure alerts against a local stand-in that checks each service's documented body."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.executors import Executors, LocalExecutor
from runner.http import RetryPolicy, Transport
from runner.reporters.notify import FORMATS, WebhookAlert, send_alerts
from tests.standins.chat import TELEGRAM_TOKEN, ChatStandIn
from tests.unit.engine_helpers import Harness, final, flow_of, runs

KINDS = {"teams": ("io.kestra.plugin.notifications.teams.TeamsIncomingWebhook", "messageText"),
         "discord": ("io.kestra.plugin.notifications.discord.DiscordIncomingWebhook", "content"),
         "google_chat": ("io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook", "messageText"),
         "slack": ("io.kestra.plugin.notifications.slack.SlackIncomingWebhook", "messageText")}


@pytest.fixture
def chat() -> Iterator[ChatStandIn]:
    with ChatStandIn() as stand_in:
        yield stand_in


def _secret(value: str) -> dict[str, str]:
    return {"SECRET_TELEGRAM_TOKEN": base64.b64encode(value.encode()).decode()}


@pytest.mark.parametrize("service", sorted(KINDS))
def test_each_webhook_task_posts_the_services_message_shape(tmp_path: Path, chat: ChatStandIn,
                                                            service: str) -> None:
    kind, text = KINDS[service]
    execution = Harness(tmp_path).run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: say
            type: {kind}
            url: {chat.url_for(service)}
            {text}: "{{{{ flow.id }}}} finished"
    """)
    assert final(execution, "say") == "SUCCESS"
    assert chat.invalid() == [] and len(chat.bodies(service)) == 1
    body = chat.bodies(service)[0]
    shown = body["attachments"][0]["content"]["body"][0]["text"] if service == "teams" else \
        body.get("content", body.get("text"))
    assert shown == "notify finished"
    assert runs(execution, "say")[0]["outputs"]["code"] in (200, 202, 204)


def test_a_discord_message_over_its_limit_is_cut_not_refused(tmp_path: Path, chat: ChatStandIn) -> None:
    execution = Harness(tmp_path).run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: say
            type: io.kestra.plugin.notifications.discord.DiscordIncomingWebhook
            url: {chat.url_for("discord")}
            content: {"x" * 3000}
    """)
    assert final(execution, "say") == "SUCCESS", chat.invalid()
    assert len(chat.bodies("discord")[0]["content"]) == 2000


def test_a_payload_the_service_refuses_fails_the_task_with_its_reason(tmp_path: Path,
                                                                      chat: ChatStandIn) -> None:
    harness = Harness(tmp_path)
    execution = harness.run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: say
            type: io.kestra.plugin.notifications.discord.DiscordIncomingWebhook
            url: {chat.url_for("discord")}
            payload: '{{"embeds": []}}'
    """)
    assert final(execution, "say") == "FAILED"
    assert any("Discord webhook answered 422" in line and "empty message" in line
               for line in harness.logs("say"))
    assert not any("/api/webhooks/" in line for line in harness.logs())  # the URL is a credential


def test_telegram_sends_to_the_channel_with_the_secret_token(tmp_path: Path, chat: ChatStandIn) -> None:
    harness = Harness(tmp_path, environ=_secret(TELEGRAM_TOKEN))
    execution = harness.run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: text
            type: io.kestra.plugin.notifications.telegram.TelegramSend
            endpointOverride: {chat.url}
            token: "{{{{ secret('TELEGRAM_TOKEN') }}}}"
            channel: "-1002072728690"
            payload: "{{{{ flow.id }}}} done"
          - id: json
            type: io.kestra.plugin.notifications.telegram.TelegramSend
            endpointOverride: {chat.url}
            token: "{{{{ secret('TELEGRAM_TOKEN') }}}}"
            channel: "@ops"
            parseMode: HTML
            payload: '{{"text": "<b>bold</b>", "disable_notification": true}}'
    """)
    assert final(execution, "text") == "SUCCESS" and final(execution, "json") == "SUCCESS"
    assert chat.invalid() == []
    assert chat.bodies("telegram") == [
        {"chat_id": "-1002072728690", "text": "notify done"},
        {"chat_id": "@ops", "text": "<b>bold</b>", "disable_notification": True, "parse_mode": "HTML"}]


def test_a_wrong_telegram_token_fails_and_is_never_shown(tmp_path: Path, chat: ChatStandIn) -> None:
    wrong = "1234:wrong-token-that-must-stay-hidden-0000000"
    harness = Harness(tmp_path, environ=_secret(wrong))
    execution = harness.run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: text
            type: io.kestra.plugin.notifications.telegram.TelegramSend
            endpointOverride: {chat.url}
            token: "{{{{ secret('TELEGRAM_TOKEN') }}}}"
            channel: "42"
            payload: hello
    """)
    assert final(execution, "text") == "FAILED"
    logs = harness.logs()
    assert any("Telegram answered 401" in line for line in logs)
    assert not any(wrong in line or "wrong-token" in line for line in logs)


def test_a_flows_errors_branch_alerts_every_service(tmp_path: Path, chat: ChatStandIn) -> None:
    """The flow-level failure alert: an errors branch with one task per service."""
    alerts = "".join(f"""
          - id: to_{service}
            type: {kind}
            url: {chat.url_for(service)}
            {text}: "{{{{ flow.id }}}} failed at {{{{ errorLogs()[0].taskId }}}}"
""" for service, (kind, text) in sorted(KINDS.items()))
    execution = Harness(tmp_path, environ=_secret(TELEGRAM_TOKEN)).run(f"""
        id: nightly
        namespace: company.team
        tasks:
          - id: boom
            type: io.kestra.plugin.core.execution.Fail
            errorMessage: disk full
        errors:{alerts}
          - id: to_telegram
            type: io.kestra.plugin.notifications.telegram.TelegramSend
            endpointOverride: {chat.url}
            token: "{{{{ secret('TELEGRAM_TOKEN') }}}}"
            channel: "42"
            payload: "{{{{ flow.id }}}} failed at {{{{ errorLogs()[0].taskId }}}}"
    """)
    assert execution.state.current == "FAILED"
    assert chat.invalid() == []
    assert chat.bodies("telegram")[0]["text"] == "nightly failed at boom"
    assert chat.bodies("discord")[0]["content"] == "nightly failed at boom"
    assert {r.operation for r in chat.requests} == {*KINDS, "telegram"}


EXECUTION = {"id": "4wjtkzwVGBM9yKnjm3yv8r", "namespace": "company.team", "flowId": "nightly",
             "state": {"current": "FAILED"},
             "trigger": {"repo": "octo/app", "commit": "0123456789abcdef0123"},
             "taskRunList": [{"taskId": "load", "state": {"current": "FAILED"}}],
             "logs": [{"taskId": "load", "level": "ERROR", "message": "load: connection refused"}]}


def test_the_server_failure_alert_speaks_each_format(chat: ChatStandIn,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    targets = [WebhookAlert(chat.url_for(f), f) for f in FORMATS if f not in ("json", "telegram")]
    targets.append(WebhookAlert(f"{chat.url}/bot{TELEGRAM_TOKEN}/sendMessage?chat_id=-100777", "telegram"))
    wrong = WebhookAlert(f"{chat.url}/bot999:not-the-token-xxxxxxxxxxxxxxxxxxxxxxxxx/sendMessage"
                         "?chat_id=1", "telegram")
    with caplog.at_level(logging.ERROR, logger="gitflows.report"):
        delivered = send_alerts([*targets, wrong], EXECUTION,
                                transport=Transport(RetryPolicy(delays=())))
    assert delivered == [True] * len(targets) + [False]
    assert [r.errors for r in chat.requests[:-1]] == [()] * len(targets)
    telegram = chat.bodies("telegram")[0]
    assert telegram["chat_id"] == "-100777"
    assert telegram["text"].startswith(
        "company.team.nightly FAILED at task load\ncommit octo/app 0123456789ab")
    assert "load: connection refused" in chat.bodies("discord")[0]["content"]
    assert "not-the-token" not in caplog.text and TELEGRAM_TOKEN not in caplog.text
    assert "failure alert to http://127.0.0.1/… not delivered" in caplog.text


def test_a_telegram_alert_without_a_chat_id_is_not_sent(chat: ChatStandIn) -> None:
    alert = WebhookAlert(f"{chat.url}/bot{TELEGRAM_TOKEN}/sendMessage", "telegram")
    assert send_alerts([alert], EXECUTION, transport=Transport(RetryPolicy(delays=()))) == [False]
    assert chat.requests == []


def test_an_untrusted_run_refuses_the_chat_tasks(tmp_path: Path, chat: ChatStandIn) -> None:
    from runner.engine.engine import Engine
    from runner.events import Collect

    engine = Engine(Executors(LocalExecutor(), untrusted=True), Collect(), data_dir=tmp_path / "d",
                    work_root=tmp_path)
    execution = engine.run(flow_of(f"""
        id: fork
        namespace: company.team
        tasks:
          - id: say
            type: io.kestra.plugin.notifications.discord.DiscordIncomingWebhook
            url: {chat.url_for("discord")}
            content: exfiltrate
    """))
    assert execution.state.current == "FAILED"
    assert chat.requests == []


def test_the_server_config_takes_each_chat_format(tmp_path: Path) -> None:
    from runner.errors import UsageError
    from webhooks.config import load_config

    config = tmp_path / "serve.yml"
    config.write_text("notify:\n" + "".join(f"  - url: https://chat.example/{f}\n    format: {f}\n"
                                            for f in ("teams", "discord", "google_chat", "telegram")))
    assert [a.format for a in load_config(config).notify if isinstance(a, WebhookAlert)] == \
        ["teams", "discord", "google_chat", "telegram"]
    config.write_text("notify:\n  - url: https://chat.example/x\n    format: icq\n")
    with pytest.raises(UsageError, match="format must be"):
        load_config(config)
