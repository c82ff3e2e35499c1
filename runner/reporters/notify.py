"""Failure alerts: a JSON summary of a FAILED run POSTed to each configured URL (or, with
`format: slack|teams|discord|google_chat|telegram`, that chat service's message), with the
reporters' retry policy; or an e-mail over SMTP.

Webhook URLs often carry a secret in their path: logs name only the host. SMTP credentials
come from environment variables named in the configuration.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from runner.http import HttpError, Transport
from runner.reporters.status_text import clean, is_errorish, truncate
from runner.tasks.notifications import chat_payload, telegram_payload

log = logging.getLogger("gitflows.report")

TAIL_LINES = 20
# json: the summary object; the others: that chat service's documented webhook body
FORMATS = ("json", "slack", "teams", "discord", "google_chat", "telegram")
SMTP_STRATEGIES = {"SMTP": 25, "SMTPS": 465, "SMTP_TLS": 587}  # strategy → default port


@dataclass(frozen=True)
class WebhookAlert:
    url: str
    format: str = "json"  # one of FORMATS; telegram: the bot's sendMessage URL with ?chat_id=

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data (a broker message carries the server's alerts to its workers)."""
        return {"kind": "webhook", "url": self.url, "format": self.format}


@dataclass(frozen=True)
class EmailAlert:
    to: tuple[str, ...]
    sender: str
    host: str
    port: int | None = None  # None: the strategy's usual port
    strategy: str = "SMTP_TLS"  # SMTP | SMTPS | SMTP_TLS (STARTTLS)
    username_env: str | None = None
    password_env: str | None = None

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data; credentials stay named by env var, never their values."""
        return {"kind": "email", "to": list(self.to), "sender": self.sender, "host": self.host,
                "port": self.port, "strategy": self.strategy,
                "username_env": self.username_env, "password_env": self.password_env}


Alert = WebhookAlert | EmailAlert


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def alert_from_data(data: Mapping[str, Any]) -> Alert:
    """The alert that `to_data()` gave; ValueError for anything else (a message from an
    incompatible version is refused, not half-understood)."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind == "webhook":
        form = str(data.get("format") or "json")
        if form not in FORMATS:
            raise ValueError(f"webhook alert: unknown format {form!r}")
        return WebhookAlert(str(data["url"]), form)
    if kind == "email":
        strategy = str(data.get("strategy") or "SMTP_TLS")
        if strategy not in SMTP_STRATEGIES:
            raise ValueError(f"email alert: unknown strategy {strategy!r}")
        port = data.get("port")
        return EmailAlert(tuple(str(t) for t in data.get("to") or ()), str(data["sender"]),
                          str(data["host"]), None if port is None else int(port), strategy,
                          _optional(data.get("username_env")), _optional(data.get("password_env")))
    raise ValueError(f"not an alert: {dict(data) if isinstance(data, Mapping) else data!r}")


def alerts_to_data(alerts: Iterable[Alert]) -> list[dict[str, Any]]:
    return [alert.to_data() for alert in alerts]


def alerts_from_data(items: Iterable[Mapping[str, Any]]) -> tuple[Alert, ...]:
    return tuple(alert_from_data(item) for item in items)


def _current(state: Any) -> str:
    if isinstance(state, Mapping):
        return str(state.get("current", ""))
    return str(state or "")


def failure_summary(execution: Mapping[str, Any],
                    logs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Flow, execution id, state, commit, the failed task and its log tail."""
    flow = f"{execution.get('namespace', '')}.{execution.get('flowId', '')}".strip(".")
    trigger = execution.get("trigger") or {}
    failed_task = next((str(tr.get("taskId")) for tr in execution.get("taskRunList") or []
                        if _current(tr.get("state")) == "FAILED"), None)
    lines = list(logs or execution.get("logs") or [])
    own = [entry for entry in lines if failed_task is None or entry.get("taskId") == failed_task]
    tail = [str(entry.get("message", "")) for entry in (own or lines)[-TAIL_LINES:]]
    error = next((clean(str(e.get("message", ""))) for e in own
                  if is_errorish(str(e.get("level", "")), str(e.get("message", "")))), None)
    return {
        "flow": flow,
        "execution": execution.get("id"),
        "state": _current(execution.get("state")),
        "repo": trigger.get("repo"),
        "commit": trigger.get("commit") or trigger.get("sha"),
        "failedTask": failed_task,
        "error": truncate(error, 500) if error else None,
        "logTail": tail,
        "url": execution.get("url"),
    }


def slack_message(summary: Mapping[str, Any]) -> dict[str, str]:
    head = f":x: *{summary['flow']}* {summary['state']}"
    if summary.get("failedTask"):
        head += f" at task `{summary['failedTask']}`"
    parts = [head]
    where = " ".join(str(x) for x in (summary.get("repo"), (summary.get("commit") or "")[:12]) if x)
    if where:
        parts.append(f"commit {where}")
    parts.append(f"execution {summary.get('execution')}")
    if summary.get("url"):
        parts.append(f"<{summary['url']}|details>")
    text = " · ".join(parts)
    tail = "\n".join(str(line)[:300] for line in summary.get("logTail") or [])
    if tail:
        text += f"\n```\n{tail.replace('```', '` ` `')}\n```"
    return {"text": text}


def _shown(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def mail_message(summary: Mapping[str, Any], alert: EmailAlert) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = alert.sender, ", ".join(alert.to)
    at = f" at {summary['failedTask']}" if summary.get("failedTask") else ""
    message["Subject"] = f"[gitflows] {summary['flow']} {summary['state']}{at}"
    lines = [f"Flow {summary['flow']}: {summary['state']}{at}",
             f"Execution: {summary.get('execution')}"]
    lines += [f"{label}: {summary[key]}" for key, label in (
        ("repo", "Repository"), ("commit", "Commit"), ("error", "Error"), ("url", "Details"))
        if summary.get(key)]
    tail = [str(line)[:300] for line in summary.get("logTail") or []]
    if tail:
        lines += ["", "Last log lines:", *tail]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_mail(alert: EmailAlert, message: EmailMessage, environ: Mapping[str, str],
              timeout: float = 30) -> None:
    """Deliver over SMTP; smtplib.SMTPException or OSError when it fails."""
    port = alert.port or SMTP_STRATEGIES[alert.strategy]
    smtp: smtplib.SMTP
    if alert.strategy == "SMTPS":
        smtp = smtplib.SMTP_SSL(alert.host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(alert.host, port, timeout=timeout)
    with smtp:
        if alert.strategy == "SMTP_TLS":
            smtp.starttls(context=ssl.create_default_context())
        username = environ.get(alert.username_env) if alert.username_env else None
        if username:
            smtp.login(username, environ.get(alert.password_env or "", ""))
        smtp.send_message(message, to_addrs=list(alert.to))


def chat_text(summary: Mapping[str, Any]) -> str:
    """The alert as plain text with a fenced log tail (Teams, Discord, Google Chat, Telegram)."""
    at = f" at task {summary['failedTask']}" if summary.get("failedTask") else ""
    lines = [f"{summary['flow']} {summary['state']}{at}"]
    where = " ".join(str(x) for x in (summary.get("repo"), (summary.get("commit") or "")[:12]) if x)
    lines += [f"commit {where}"] if where else []
    lines.append(f"execution {summary.get('execution')}")
    lines += [str(summary[key]) for key in ("error", "url") if summary.get(key)]
    tail = "\n".join(str(line)[:300] for line in (summary.get("logTail") or [])[-10:])
    if tail:
        lines.append(f"```\n{tail.replace('```', '` ` `')}\n```")
    return "\n".join(lines)


def alert_request(alert: WebhookAlert, summary: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(URL, JSON body) of the alert in its target's format."""
    if alert.format == "json":
        return alert.url, dict(summary)
    if alert.format == "slack":
        return alert.url, slack_message(summary)
    if alert.format == "telegram":
        parts = urllib.parse.urlsplit(alert.url)
        chat = urllib.parse.parse_qs(parts.query).get("chat_id", [""])[0]
        if not chat:
            raise ValueError("a telegram alert URL ends in /sendMessage?chat_id=<chat or channel id>")
        return urllib.parse.urlunsplit(parts._replace(query="")), telegram_payload(chat, chat_text(summary))
    return alert.url, chat_payload(alert.format, chat_text(summary))


def _post(sender: Transport, alert: WebhookAlert, summary: Mapping[str, Any]) -> bool:
    secret = urllib.parse.urlsplit(alert.url)
    hidden = [p for p in (secret.path, secret.query, secret.password) if p and len(p) > 1]
    try:
        url, payload = alert_request(alert, summary)
        sender.request("POST", url, payload, secrets=hidden)
        return True
    except (HttpError, ValueError, OSError) as err:
        log.error("failure alert to %s not delivered: %s", _shown(alert.url),
                  str(err).replace(alert.url, _shown(alert.url)))
        return False


def send_alerts(alerts: Sequence[Alert], execution_json: Mapping[str, Any], *,
                environ: Mapping[str, str] | None = None, logs: Sequence[Mapping[str, Any]] = (),
                transport: Transport | None = None) -> list[bool]:
    """Send the failure alert of a FAILED run to each target; one bool per target, True when
    delivered. Never raises."""
    try:
        if _current(execution_json.get("state")) != "FAILED" or not alerts:
            return []
        summary = failure_summary(execution_json, logs)
    except Exception:
        log.exception("failure alert: could not build the message")
        return [False] * len(alerts)
    sender = transport or Transport()
    delivered = []
    for alert in alerts:
        if isinstance(alert, WebhookAlert):
            delivered.append(_post(sender, alert, summary))
            continue
        try:
            send_mail(alert, mail_message(summary, alert), environ or {})
            delivered.append(True)
        except (smtplib.SMTPException, OSError, ValueError) as err:
            log.error("failure alert mail through %s not delivered: %s", alert.host, err)
            delivered.append(False)
    return delivered


def notify_failure(urls: Iterable[str], execution_json: Mapping[str, Any], slack: bool = False, *,
                   logs: Sequence[Mapping[str, Any]] = (),
                   transport: Transport | None = None) -> list[bool]:
    """POST the failure summary (or a Slack message) to each URL; see send_alerts."""
    alerts = [WebhookAlert(url, "slack" if slack else "json") for url in urls]
    return send_alerts(alerts, execution_json, logs=logs, transport=transport)
