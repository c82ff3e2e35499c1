"""Notification tasks against local stand-ins: an HTTP server for Slack, a tiny SMTP receiver."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine_helpers import Harness, final, runs


class SlackStandIn:
    def __init__(self) -> None:
        self.received: list[Any] = []
        self.status = 200
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stand_in.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(stand_in.status)
                self.end_headers()
                self.wfile.write(b"ok" if stand_in.status == 200 else b"invalid_token")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/X"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


class SmtpStandIn:
    """Accepts EHLO/HELO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, QUIT; keeps what it got."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.mails: list[dict[str, Any]] = []
        self.auth: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                self._session(conn, reader)

    def _session(self, conn: socket.socket, reader: Any) -> None:
        def say(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        say("220 stand-in ESMTP")
        mail: dict[str, Any] = {"rcpt": []}
        while line := reader.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                say("250-stand-in")
                say("250 AUTH PLAIN")
            elif verb == "HELO":
                say("250 stand-in")
            elif verb == "AUTH":
                self.auth.append(base64.b64decode(command.split()[-1]).decode())
                say("235 ok")
            elif verb == "MAIL":
                mail = {"from": command[10:], "rcpt": []}
                say("250 ok")
            elif verb == "RCPT":
                mail["rcpt"].append(command[8:])
                say("250 ok")
            elif verb == "DATA":
                say("354 go on")
                data = b""
                while (chunk := reader.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                mail["data"] = data
                self.mails.append(mail)
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")


@pytest.fixture
def smtp() -> Iterator[SmtpStandIn]:
    stand_in = SmtpStandIn()
    yield stand_in
    stand_in.sock.close()


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def test_slack_message_text_is_posted_as_json(tmp_path: Path, slack: SlackStandIn) -> None:
    execution = Harness(tmp_path).run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: slack
            type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
            url: {slack.url}
            messageText: "{{{{ flow.id }}}} finished"
    """)
    assert final(execution, "slack") == "SUCCESS"
    assert slack.received == [("/services/T0/B0/X", "application/json", {"text": "notify finished"})]
    assert runs(execution, "slack")[0]["outputs"]["code"] == 200


def test_slack_payload_is_sent_as_given(tmp_path: Path, slack: SlackStandIn) -> None:
    Harness(tmp_path).run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: slack
            type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
            url: {slack.url}
            payload: |
              {{"channel": "#ops", "text": "{{{{ execution.id | length > 0 }}}}"}}
    """)
    assert slack.received[0][2] == {"channel": "#ops", "text": "true"}


def test_slack_error_answer_fails_the_task(tmp_path: Path, slack: SlackStandIn) -> None:
    slack.status = 403
    harness = Harness(tmp_path)
    execution = harness.run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: slack
            type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
            url: {slack.url}
            messageText: hi
    """)
    assert final(execution, "slack") == "FAILED"
    assert any("answered 403: invalid_token" in line for line in harness.logs("slack"))


def test_mail_is_delivered_over_smtp(tmp_path: Path, smtp: SmtpStandIn) -> None:
    harness = Harness(tmp_path, environ={"SECRET_SMTP_PASSWORD": _b64("s3cret")})
    execution = harness.run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: mail
            type: io.kestra.plugin.notifications.mail.MailSend
            host: 127.0.0.1
            port: {smtp.port}
            transportStrategy: SMTP
            username: robot
            password: "{{{{ secret('SMTP_PASSWORD') }}}}"
            from: robot@example.com
            to: [ada@example.com, bob@example.com]
            subject: "{{{{ flow.id }}}} done"
            plainTextContent: all green
            htmlTextContent: "<b>all green</b>"
    """)
    assert final(execution, "mail") == "SUCCESS", harness.logs("mail")
    [mail] = smtp.mails
    assert mail["from"].startswith("<robot@example.com>")
    assert mail["rcpt"] == ["<ada@example.com>", "<bob@example.com>"]
    assert smtp.auth == ["\0robot\0s3cret"]
    message = email.message_from_bytes(mail["data"], policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "notify done"
    assert message["To"] == "ada@example.com, bob@example.com"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == "all green"
    assert html.get_content().strip() == "<b>all green</b>"
    assert not any("s3cret" in line for line in harness.logs())


def test_mail_to_an_unreachable_server_fails(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    harness = Harness(tmp_path)
    execution = harness.run(f"""
        id: notify
        namespace: company.team
        tasks:
          - id: mail
            type: io.kestra.plugin.notifications.mail.MailSend
            host: 127.0.0.1
            port: {port}
            transportStrategy: SMTP
            from: robot@example.com
            to: ada@example.com
            plainTextContent: hi
    """)
    assert final(execution, "mail") == "FAILED"
    assert any(f"connecting to 127.0.0.1:{port}" in line for line in harness.logs("mail"))
