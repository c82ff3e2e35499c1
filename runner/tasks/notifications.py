"""Notifications: chat incoming webhooks (Slack, Microsoft Teams, Discord, Google Chat), a
Telegram bot message (urllib) and an e-mail (smtplib).

Credentials come through secret() in the flow, so they are masked in logs like any secret.
"""

from __future__ import annotations

import json
import urllib.error
from typing import TYPE_CHECKING, Any

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.secrets import mask_text
from runner.tasks.registry import TypeDef

if TYPE_CHECKING:
    from email.message import EmailMessage

_STR = {"type": "string"}
_WEBHOOK = {"url": _STR, "payload": {"type": ["string", "object"]}, "options": {"type": "object"}}
_STRING_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
STRATEGIES = ("SMTP", "SMTPS", "SMTP_TLS")
DEFAULT_PORTS = {"SMTP": 25, "SMTPS": 465, "SMTP_TLS": 587}


def _timeout(ctx: TaskContext, default: float = 60) -> float:
    remaining = ctx.remaining()
    return max(remaining.total_seconds(), 0.1) if remaining else default


# Each chat service's documented incoming-webhook body for a plain text message.
TEXT_LIMITS = {"discord": 2000, "telegram": 4096, "google_chat": 4096, "teams": 20000, "slack": 40000}


def chat_payload(service: str, text: str) -> dict[str, Any]:
    """The JSON body a chat service's incoming webhook takes for a text message (Telegram's
    sendMessage takes chat_id besides; see telegram_payload)."""
    text = text[:TEXT_LIMITS[service]]
    if service == "discord":
        return {"content": text}
    if service == "teams":  # a Workflows (Power Automate) webhook takes an Adaptive Card message
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "body": [{"type": "TextBlock", "text": text, "wrap": True}]}
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
    return {"text": text}  # slack, google_chat, telegram


def _json_payload(props: dict[str, Any], service: str, text_property: str) -> dict[str, Any]:
    """`payload` as given (a JSON object, or a string of one), else `text_property` as text."""
    payload = props.get("payload")
    if payload is None:
        if props.get(text_property) is None:
            raise TaskFailed(f"set payload or {text_property}")
        return chat_payload(service, str(props[text_property]))
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as err:
            raise TaskFailed(f"payload is not JSON: {err}") from None
    if not isinstance(payload, dict):
        raise TaskFailed("payload must be a JSON object")
    return payload


def post_json(url: str, body: dict[str, Any], what: str, ctx: TaskContext,
              secrets: tuple[str, ...] = ()) -> tuple[int, str]:
    """POST body as JSON; (status, text of the answer). A failure names the service, never
    the URL (webhook URLs and bot tokens are credentials)."""
    from urllib.request import Request, urlopen  # not at import: http.client, ssl, email

    if not url.startswith(("http://", "https://")):
        raise TaskFailed("url must be http:// or https://")
    request = Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})

    def hide(text: str) -> str:
        return mask_text(text, (url, *secrets))

    try:
        with urlopen(request, timeout=_timeout(ctx)) as response:
            code, text = response.status, response.read(64 * 1024).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        detail = err.read(2048).decode("utf-8", "replace")
        raise TaskFailed(hide(f"{what} answered {err.code}: {detail}")) from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise TaskFailed(hide(f"{what}: {getattr(err, 'reason', err)}")) from None
    ctx.log("INFO", f"{what} answered {code}")
    return code, text


def _incoming_webhook(service: str, what: str, text_property: str) -> Any:
    def run(task: Task, ctx: TaskContext) -> Outcome:
        props = ctx.render(dict(task.props))
        body = _json_payload(props, service, text_property)
        code, text = post_json(str(props["url"]), body, what, ctx)
        return Outcome(State.SUCCESS, {"code": code, "body": text})

    return run


run_slack = _incoming_webhook("slack", "Slack webhook", "messageText")


def telegram_payload(chat_id: str, text: str) -> dict[str, Any]:
    return {"chat_id": chat_id, **chat_payload("telegram", text)}


def run_telegram(task: Task, ctx: TaskContext) -> Outcome:
    """Kestra's TelegramSend: the Bot API's sendMessage to `channel`; `payload` is the text,
    or a JSON object of sendMessage parameters."""
    props = ctx.render(dict(task.props))
    token, channel = str(props["token"]), str(props["channel"])
    payload = props.get("payload", props.get("messageText"))
    if payload is None:
        raise TaskFailed("set payload (the message text)")
    body: dict[str, Any]
    if isinstance(payload, dict):
        body = {"chat_id": channel, **payload}
    else:
        try:
            parsed = json.loads(str(payload))
        except ValueError:
            parsed = None
        body = {"chat_id": channel, **parsed} if isinstance(parsed, dict) else \
            telegram_payload(channel, str(payload))
    if props.get("parseMode"):
        body["parse_mode"] = str(props["parseMode"])
    base = str(props.get("endpointOverride") or "https://api.telegram.org").rstrip("/")
    code, text = post_json(f"{base}/bot{token}/sendMessage", body, "Telegram", ctx, (token,))
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {}
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        raise TaskFailed(f"Telegram did not send the message: {mask_text(text[:300], (token,))}")
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
    from email.message import EmailMessage  # the email package: only when mail is sent

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
    import smtplib  # only when mail is sent (with ssl: a cold start's worth of imports)
    import ssl

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
            properties={**_WEBHOOK, "messageText": _STR}, required=("url",), run=run_slack),
    TypeDef(name="io.kestra.plugin.notifications.teams.TeamsIncomingWebhook", kind="task",
            title="Send a Microsoft Teams message through a Workflows incoming webhook",
            properties={**_WEBHOOK, "messageText": _STR}, required=("url",),
            run=_incoming_webhook("teams", "Teams webhook", "messageText")),
    TypeDef(name="io.kestra.plugin.notifications.discord.DiscordIncomingWebhook", kind="task",
            title="Send a Discord message through a channel webhook",
            properties={**_WEBHOOK, "content": _STR}, required=("url",),
            run=_incoming_webhook("discord", "Discord webhook", "content")),
    TypeDef(name="io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook", kind="task",
            title="Send a Google Chat message through a space's incoming webhook",
            properties={**_WEBHOOK, "messageText": _STR}, required=("url",),
            run=_incoming_webhook("google_chat", "Google Chat webhook", "messageText")),
    TypeDef(name="io.kestra.plugin.notifications.telegram.TelegramSend", kind="task",
            title="Send a Telegram message with a bot (Bot API sendMessage)",
            properties={"token": _STR, "channel": _STR, "payload": {"type": ["string", "object"]},
                        "parseMode": {"type": "string", "enum": ["HTML", "Markdown", "MarkdownV2"]},
                        "endpointOverride": _STR, "options": {"type": "object"}},
            required=("token", "channel", "payload"), run=run_telegram),
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
