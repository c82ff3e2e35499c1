"""Failure alerts: a JSON summary of a FAILED run POSTed to each configured URL
(or a Slack-compatible `{"text": …}` message), with the reporters' retry policy.

Webhook URLs often carry a secret in their path: logs name only the host.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runner.reporters.http import HttpError, Transport
from runner.reporters.status_text import clean, is_errorish, truncate

log = logging.getLogger("gitflows.report")

TAIL_LINES = 20


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


def notify_failure(urls: Iterable[str], execution_json: Mapping[str, Any], slack: bool = False, *,
                   logs: Sequence[Mapping[str, Any]] = (),
                   transport: Transport | None = None) -> list[bool]:
    """POST the failure summary to each URL (FAILED runs only); one bool per URL, True when
    delivered. Never raises."""
    targets = list(urls)
    try:
        if _current(execution_json.get("state")) != "FAILED" or not targets:
            return []
        summary = failure_summary(execution_json, logs)
        payload: dict[str, Any] = slack_message(summary) if slack else summary
    except Exception:
        log.exception("failure alert: could not build the message")
        return [False] * len(targets)
    sender = transport or Transport()
    delivered = []
    for url in targets:
        secret = urllib.parse.urlsplit(url)
        hidden = [p for p in (secret.path, secret.query, secret.password) if p and len(p) > 1]
        try:
            sender.request("POST", url, payload, secrets=hidden)
            delivered.append(True)
        except (HttpError, ValueError, OSError) as err:
            log.error("failure alert to %s not delivered: %s", _shown(url),
                      str(err).replace(url, _shown(url)))
            delivered.append(False)
    return delivered
