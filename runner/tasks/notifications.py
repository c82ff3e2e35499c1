"""Notifications: a Slack incoming webhook (urllib) and an e-mail (smtplib).

Credentials come through secret() in the flow, so they are masked in logs like any secret.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from runner.events import State
from runner.model import Task
from runner.tasks.base import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

_STRING_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
STRATEGIES = ("SMTP", "SMTPS", "SMTP_TLS")
DEFAULT_PORTS = {"SMTP": 25, "SMTPS": 465, "SMTP_TLS": 587}


def _timeout(ctx: TaskContext, default: float = 60) -> float:
    remaining = ctx.remaining()
    return max(remaining.total_seconds(), 0.1) if remaining else default


def run_slack(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    url = str(props["url"])
    if not url.startswith(("http://", "https://")):
        raise TaskFailed(f"url must be http:// or https://, got '{url}'")
    payload = props.get("payload")
    if payload is None:
        if props.get("messageText") is None:
            raise TaskFailed("set payload or messageText")
        body = json.dumps({"text": str(props["messageText"])})
    elif isinstance(payload, str):
        try:
            json.loads(payload)
        except ValueError as err:
            raise TaskFailed(f"payload is not JSON: {err}") from None
        body = payload
    else:
        body = json.dumps(payload)
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_timeout(ctx)) as response:
            code, text = response.status, response.read(64 * 1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        detail = err.read(2048).decode("utf-8", "replace")
        raise TaskFailed(f"Slack webhook answered {err.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise TaskFailed(f"Slack webhook: {getattr(err, 'reason', err)}") from None
    ctx.log("INFO", f"Slack webhook answered {code}")
    return Outcome(State.SUCCESS, {"code": code, "body": text})


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def build_message(props: dict[str, Any]) -> tuple[EmailMessage, list[str]]:
    """The message and its recipients (to, cc and bcc)."""
    sender = props.get("from")
    to = _addresses(props.get("to"))
    if not sender or not to:
        raise TaskFailed("from and to are required")
    message = EmailMessage()
    message["From"] = str(sender)
    message["To"] = ", ".join(to)
    cc = _addresses(props.get("cc"))
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = str(props.get("subject") or "")
    plain, html = props.get("plainTextContent"), props.get("htmlTextContent")
    message.set_content(str(plain) if plain is not None else "")
    if html is not None:
        message.add_alternative(str(html), subtype="html")
    return message, [*to, *cc, *_addresses(props.get("bcc"))]


def run_mail(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    strategy = str(props.get("transportStrategy", "SMTPS")).upper()
    if strategy not in STRATEGIES:
        raise TaskFailed(f"transportStrategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'")
    host = str(props["host"])
    port = int(props.get("port") or DEFAULT_PORTS[strategy])
    message, recipients = build_message(props)
    timeout = _timeout(ctx)
    try:
        smtp: smtplib.SMTP
        if strategy == "SMTPS":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if strategy == "SMTP_TLS":
                smtp.starttls(context=ssl.create_default_context())
            if props.get("username"):
                smtp.login(str(props["username"]), str(props.get("password") or ""))
            refused = smtp.send_message(message, to_addrs=recipients)
    except smtplib.SMTPException as err:
        raise TaskFailed(f"sending mail through {host}:{port}: {err}") from None
    except OSError as err:
        raise TaskFailed(f"connecting to {host}:{port}: {err}") from None
    ctx.log("INFO", f"mail '{message['Subject']}' sent to {len(recipients) - len(refused)} recipient(s)")
    return Outcome(State.SUCCESS, {"recipients": [r for r in recipients if r not in refused]})


TYPES = (
    TypeDef(name="io.kestra.plugin.notifications.slack.SlackIncomingWebhook", kind="task",
            title="Send a Slack message through an incoming webhook; outputs the status code",
            properties={"url": {"type": "string"}, "payload": {"type": ["string", "object"]},
                        "messageText": {"type": "string"}, "options": {"type": "object"}},
            required=("url",), run=run_slack),
    TypeDef(name="io.kestra.plugin.notifications.mail.MailSend", kind="task",
            title="Send an e-mail over SMTP, SMTPS or SMTP with STARTTLS",
            properties={"host": {"type": "string"}, "port": {"type": ["integer", "string"]},
                        "username": {"type": "string"}, "password": {"type": "string"},
                        "from": {"type": "string"}, "to": _STRING_OR_LIST, "cc": _STRING_OR_LIST,
                        "bcc": _STRING_OR_LIST, "subject": {"type": "string"},
                        "htmlTextContent": {"type": "string"}, "plainTextContent": {"type": "string"},
                        "transportStrategy": {"type": "string", "enum": list(STRATEGIES)},
                        "sessionTimeout": {"type": "integer"}, "attachments": {"type": "array"},
                        "embeddedImages": {"type": "array"}},
            required=("host", "from", "to"), run=run_mail),
)
