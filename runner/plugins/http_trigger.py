"""io.kestra.plugin.core.http.Trigger: call a URL every `interval` and start a run when
`responseCondition` holds (Kestra's default: `{{ response.statusCode < 400 }}`), with the
response as `trigger.uri`, `trigger.code`, `trigger.headers` and `trigger.body`.

The condition is rendered here, per poll, with `response` (statusCode, body, headers) besides
`flow` and `trigger`; the poller hands it over unrendered (runner.ports.polling.LATE_PROPS). Like
Kestra's, the trigger fires on every poll whose response meets the condition: make the
condition say what is new (a status, a field of the body), or the run clear it.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from runner.expressions import Renderer
from runner.ports.polling import MAX_POLL_SECONDS, TRIGGER_PROPERTIES, Batch, TriggerContext, TriggerEvent
from runner.tasks.fs_local import digest
from runner.tasks.registry import TypeDef

DEFAULT_CONDITION = "{{ response.statusCode < 400 }}"
MAX_BODY = 1024 * 1024  # bytes of the response handed to the run
_STRING = {"type": "string"}
_renderer = Renderer()


class HttpTriggerError(Exception):
    pass


def _request(props: Mapping[str, Any]) -> urllib.request.Request:
    uri = str(props.get("uri") or "")
    if not uri.startswith(("http://", "https://")):
        raise HttpTriggerError(f"uri must be http:// or https://, got '{uri}'")
    headers = {str(k): str(v) for k, v in dict(props.get("headers") or {}).items()}
    body = props.get("body")
    if props.get("formData") is not None:
        body = urllib.parse.urlencode(dict(props["formData"]))
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None and not isinstance(body, str):
        body = json.dumps(body)
    if body is not None:
        headers.setdefault("Content-Type", str(props.get("contentType") or "application/json"))
    auth = props.get("auth") or (props.get("options") or {}).get("auth") or {}
    if isinstance(auth, Mapping) and auth.get("username") is not None:  # Kestra's BASIC auth
        pair = f"{auth['username']}:{auth.get('password') or ''}".encode()
        headers.setdefault("Authorization", "Basic " + base64.b64encode(pair).decode())
    return urllib.request.Request(uri, data=None if body is None else str(body).encode(),
                                  method=str(props.get("method") or "GET").upper(), headers=headers)


def fetch(props: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """The response as Kestra's trigger output: uri, code, headers (name → list), body."""
    request = _request(props)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            code, headers, raw = response.status, response.headers, response.read(MAX_BODY)
    except urllib.error.HTTPError as err:  # an answer: the condition decides
        code, headers, raw = err.code, err.headers, err.read(MAX_BODY)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise HttpTriggerError(f"{request.method} {request.full_url}: {reason}") from None
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name, []).append(value)
    return {"uri": request.full_url, "code": code, "headers": grouped,
            "body": raw.decode("utf-8", "replace")}


def holds(condition: str, response: Mapping[str, Any], ctx: TriggerContext) -> bool:
    """Kestra's responseCondition, rendered with `response`: true when it renders "true"."""
    variables = {"response": {"statusCode": response["code"], "body": response["body"],
                              "headers": response["headers"]},
                 "flow": {"id": ctx.flow_id, "namespace": ctx.namespace},
                 "trigger": {"id": ctx.trigger_id}}
    try:
        rendered = _renderer.render(condition, variables)
    except Exception as err:
        raise HttpTriggerError(f"responseCondition: {err}") from None
    return str(rendered).strip().lower() == "true"


def poll_trigger(ctx: TriggerContext) -> Batch:
    timeout = min(float((ctx.props.get("options") or {}).get("readTimeout") or 10), MAX_POLL_SECONDS / 2)
    try:
        response = fetch(ctx.props, timeout)
        condition = str(ctx.props.get("responseCondition") or DEFAULT_CONDITION)
        if not holds(condition, response, ctx):
            return Batch()
    except HttpTriggerError as err:
        raise HttpTriggerError(ctx.mask(str(err))) from None
    ctx.log("INFO", f"{response['uri']} answered {response['code']}: responseCondition holds")
    # each poll that meets the condition is one event (Kestra's behaviour): the key is the poll
    return Batch((TriggerEvent(digest(str(time.time_ns()), response["body"]), response),))


TYPES = (
    TypeDef(name="io.kestra.plugin.core.http.Trigger", kind="trigger",
            title="Call a URL every interval; start a run when responseCondition holds",
            properties={**TRIGGER_PROPERTIES, "uri": _STRING, "method": _STRING,
                        "body": {"type": ["string", "object", "array"]}, "contentType": _STRING,
                        "headers": {"type": "object"}, "formData": {"type": "object"},
                        "options": {"type": "object"}, "auth": {"type": "object"},
                        "responseCondition": _STRING, "encryptBody": {"type": ["boolean", "string"]}},
            required=("uri",), poll=poll_trigger),
)

