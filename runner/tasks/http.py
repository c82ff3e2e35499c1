"""http.Request: one HTTP call; response code, headers and body as outputs."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
from typing import Any

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

MAX_BODY = 10 * 1024 * 1024  # bytes kept in outputs


def run_request(task: Task, ctx: TaskContext) -> Outcome:
    from urllib.request import Request, urlopen  # not at import: http.client, ssl, email

    props = ctx.render(dict(task.props))
    uri = str(props["uri"])
    if not uri.startswith(("http://", "https://")):
        raise TaskFailed(f"uri must be http:// or https://, got '{uri}'")
    method = str(props.get("method", "GET")).upper()
    headers = {str(k): str(v) for k, v in (props.get("headers") or {}).items()}
    body = props.get("body")
    if props.get("formData") is not None:
        body = urllib.parse.urlencode(props["formData"])
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None and not isinstance(body, str):
        body = json.dumps(body)
    if body is not None:
        headers.setdefault("Content-Type", str(props.get("contentType", "application/json")))
    options = props.get("options") or {}
    remaining = ctx.remaining()
    timeout = remaining.total_seconds() if remaining else float(options.get("readTimeout", 60))
    request = Request(uri, data=body.encode() if body is not None else None,
                                     method=method, headers=headers)
    try:
        with urlopen(request, timeout=timeout) as response:
            code, got_headers, raw = response.status, dict(response.headers), response.read(MAX_BODY)
    except urllib.error.HTTPError as err:
        code, got_headers, raw = err.code, dict(err.headers), err.read(MAX_BODY)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise TaskFailed(f"{method} {uri}: {getattr(err, 'reason', err)}") from None
    outputs: dict[str, Any] = {"code": code, "headers": got_headers,
                               "body": raw.decode("utf-8", "replace"), "uri": uri}
    allowed = {int(c) for c in props.get("allowFailed", [])} if isinstance(
        props.get("allowFailed"), list) else set()
    if code >= 400 and props.get("allowFailed") is not True and code not in allowed:
        raise TaskFailed(f"{method} {uri} answered {code}")
    return Outcome(State.SUCCESS, outputs)


MAX_DOWNLOAD = 1024 * 1024 * 1024  # bytes a Download keeps before it fails


def run_download(task: Task, ctx: TaskContext) -> Outcome:
    """Kestra's http.Download: the response body into a file (outputs uri, code, length)."""
    from urllib.request import Request, urlopen  # not at import: http.client, ssl, email

    from runner.tasks.storage_files import store  # storage helpers import this family's peers

    props = ctx.render(dict(task.props))
    uri = str(props["uri"])
    if not uri.startswith(("http://", "https://")):
        raise TaskFailed(f"uri must be http:// or https://, got '{uri}'")
    method = str(props.get("method", "GET")).upper()
    headers = {str(k): str(v) for k, v in (props.get("headers") or {}).items()}
    body = props.get("body")
    data = (body if isinstance(body, str) else json.dumps(body)).encode() if body is not None \
        else None
    remaining = ctx.remaining()
    timeout = remaining.total_seconds() if remaining else 300.0
    request = Request(uri, data=data, method=method, headers=headers)
    try:
        with urlopen(request, timeout=timeout) as response:
            code, got_headers = response.status, dict(response.headers)
            raw = response.read(MAX_DOWNLOAD + 1)
    except urllib.error.HTTPError as err:
        if not (props.get("allowFailed") or (props.get("options") or {}).get("allowFailed")):
            raise TaskFailed(f"{method} {uri} answered {err.code}") from None
        code, got_headers, raw = err.code, dict(err.headers), err.read(MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise TaskFailed(f"{method} {uri}: {getattr(err, 'reason', err)}") from None
    if len(raw) > MAX_DOWNLOAD:
        raise TaskFailed(f"{uri}: the response is larger than {MAX_DOWNLOAD} bytes")
    if not raw and props.get("failOnEmptyResponse", True):
        raise TaskFailed(f"{uri}: empty response (set failOnEmptyResponse: false to accept it)")
    name = urllib.parse.unquote(urllib.parse.urlparse(uri).path.rsplit("/", 1)[-1]) or "download"
    name = name.replace("..", "_") or "download"
    return Outcome(State.SUCCESS, {"uri": store(ctx, raw, name), "code": code,
                                   "length": len(raw), "headers": got_headers})


TYPES = (
    TypeDef(name="io.kestra.plugin.core.http.Request", kind="task",
            title="Make an HTTP request; outputs code, headers and body",
            properties={"uri": {"type": "string"}, "method": {"type": "string"},
                        "body": {}, "contentType": {"type": "string"},
                        "headers": {"type": "object"}, "formData": {"type": "object"},
                        "options": {"type": "object"}, "allowFailed": {"type": ["boolean", "array"]},
                        "sslOptions": {"type": "object"}, "encryptBody": {"type": "boolean"}},
            required=("uri",), run=run_request,
            aliases=("io.kestra.plugin.fs.http.Request",)),
    TypeDef(name="io.kestra.plugin.core.http.Download", kind="task",
            title="Download a file over HTTP (outputs uri, code, length, headers)",
            properties={"uri": {"type": "string"}, "method": {"type": "string"}, "body": {},
                        "contentType": {"type": "string"}, "headers": {"type": "object"},
                        "options": {"type": "object"}, "sslOptions": {"type": "object"},
                        "failOnEmptyResponse": {"type": "boolean"},
                        "formData": {"type": "object"},
                        "allowFailed": {"type": "boolean", "deprecated": True},
                        "saveAs": {"type": "string"}},
            required=("uri",), run=run_download,
            aliases=("io.kestra.plugin.fs.http.Download",)),
)
