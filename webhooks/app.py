"""create_app(service) → the Flask app of `flows serve`. The only module that imports flask.

It makes the app, its JSON error answers, the auth gate and security headers, and binds the
flask-free routes (webhooks/ingress/httpapi.py) of the modules that own them: provider
deliveries (ingress/hooks.py), health and metrics (scale/probes.py), the execution API
(runs/api.py), the UI's JSON and static files (ui/api.py) and flow saving (ui/editing.py).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import BaseConverter

from runner.errors import GitflowsError
from webhooks.ingress import auth, hooks, httpapi, receive
from webhooks.ingress.httpapi import BadRequestError, Call, Reply, Route
from webhooks.runs import api as runs_api
from webhooks.runs import artifacts as artifacts_api
from webhooks.runs.queue import StorageFullError, is_storage_full
from webhooks.runs.service import FlowService, NotFoundError
from webhooks.scale import probes
from webhooks.ui import api as ui_api

# The UI is same-origin scripts and styles only (no inline script; the editor bundle sets style
# attributes and CodeMirror may add a <style> element, hence 'unsafe-inline' for styles only,
# and data: images for its icons); it is never framed (clickjacking).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a ?token= page address must not leak to links
}
NO_SPACE = "the server has no space left to store this; try again later"


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"message": message}), status


class ExecutionIdConverter(BaseConverter):
    """<execution:…>: a path segment that cannot be a namespace (webhooks/ingress/httpapi.py), so
    POST /api/v1/executions/{ns}/kill starts the flow `kill` and never kills execution {ns}."""
    regex = httpapi.EXECUTION_ID
    part_isolating = True  # one segment: werkzeug guesses False from the '/' in [^/]
    weight = 50  # tried before <namespace>: an execution id followed by an action is the action


def create_app(service: FlowService) -> Flask:
    # no Flask static route: it would serve a static/ folder of the working directory
    app = Flask("gitflows", static_folder=None)
    app.url_map.converters["execution"] = ExecutionIdConverter
    app.config["MAX_CONTENT_LENGTH"] = service.config.max_body
    _errors(app, service)
    _guard(app, auth.Gate(service.config, service.environ))  # refuses an exposed server without auth
    candidates = receive.config_candidates(service.config.repos, service.environ)
    hook_routes = hooks.routes(service.intake.inbox, service.repos.secret_for, candidates,
                               service.intake.wake_dispatcher, service.config.max_delivery)
    _bind(app, [*hook_routes, *probes.routes(service), *runs_api.routes(service),
                *ui_api.routes(service), *artifacts_api.routes(service)])
    app.wsgi_app = DirectHooks(app.wsgi_app, hook_routes[0].handler,  # type: ignore[method-assign]
                               service.config.max_delivery, app.logger)
    return app


def _errors(app: Flask, service: FlowService) -> None:
    """Every error answers JSON {"message": …}; a full disk 507, anything unexpected 500."""
    @app.errorhandler(NotFoundError)
    def not_found(err: NotFoundError) -> tuple[Response, int]:
        return _error(404, err.message)

    @app.errorhandler(GitflowsError)
    def invalid(err: GitflowsError) -> tuple[Response, int]:
        return _error(422, err.message)

    @app.errorhandler(StorageFullError)
    @app.errorhandler(sqlite3.Error)
    @app.errorhandler(OSError)
    def storage_full(err: Exception) -> tuple[Response, int]:
        """A full disk is the operator's to fix, not a bug: JSON 507, the detail in the log."""
        if not is_storage_full(err):
            raise err  # any other failure stays a 500
        app.logger.error("%s %s: no space left: %s", request.method, request.path, err)
        return _error(507, NO_SPACE)

    @app.errorhandler(BadRequestError)
    def bad_request(err: BadRequestError) -> tuple[Response, int]:
        return _error(400, err.message)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[Response, int]:
        """Unknown routes, wrong methods …: JSON like every other error, not an HTML page."""
        response, status = _error(err.code or 500, err.description or err.name)
        for name, value in err.get_headers():  # Allow of a 405, Retry-After …
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(413)
    def too_large(_err: Exception) -> tuple[Response, int]:
        hook = request.endpoint == hooks.HOOK
        limit = service.config.max_delivery if hook else service.config.max_body
        return _error(413, f"request body larger than {limit} bytes")


def _guard(app: Flask, gate: auth.Gate) -> None:
    @app.before_request
    def guard() -> tuple[Response, int, dict[str, str]] | None:
        # the route the router matched, not a path prefix, says what is exempt ('' for none)
        rule = request.url_rule.rule if request.url_rule is not None else ""
        denied = gate.check(request.method, request.path, _headers(), request.host, rule)
        if denied is not None:
            return jsonify({"message": denied.message}), denied.status, denied.headers
        pairs = request.args.items(multi=True)
        if request.endpoint == runs_api.WEBHOOK:  # its other parameters are the flow's
            pairs = ((k, v) for k, v in pairs if k in ("repo", "ref"))  # (trigger.parameters)
        httpapi.check_query(pairs)  # 400 on malformed ones, on every route
        httpapi.check_path(request.view_args or {})
        return None

    @app.after_request
    def harden(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _bind(app: Flask, routes: Iterable[Route]) -> None:
    """One URL rule per endpoint and rule, with every method its routes give (an action
    route's execution id typed: httpapi.action_rule), in the order they come."""
    methods: dict[tuple[str, str], list[str]] = {}
    handlers: dict[str, Callable[[Call], Reply]] = {}
    for route in routes:
        if handlers.setdefault(route.name, route.handler) != route.handler:
            raise ValueError(f"endpoint {route.name} has two handlers")
        methods.setdefault((route.name, httpapi.action_rule(route.rule)), []).append(route.method)
    views = {name: _view(handler) for name, handler in handlers.items()}
    for (name, rule), verbs in methods.items():
        app.add_url_rule(rule, name, views[name], methods=verbs)


def _headers() -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


class _FlaskBody:
    """httpapi.Body over flask's request: read only when a handler asks."""

    @property
    def is_json(self) -> bool:
        return request.is_json

    def json(self) -> Any:
        return request.get_json(force=True, silent=True)

    def data(self, *, limit: int | None = None, cache: bool = True) -> bytes:
        if limit is not None:
            request.max_content_length = limit
        return request.get_data(cache=cache)

    def form(self) -> dict[str, str]:
        values = dict(request.form.items())
        for name, upload in request.files.items():
            values[name] = upload.read().decode("utf-8", "replace")
        return values


def _view(handler: Callable[[Call], Reply]) -> Callable[..., Response | tuple[Response, int, dict[str, str]]]:
    """A flask view around a flask-free handler (webhooks/ingress/httpapi.py)."""
    def view(**params: str) -> Response | tuple[Response, int, dict[str, str]]:
        reply = handler(Call(params, request.args.to_dict(), _headers(), _FlaskBody(),
                             request.args.to_dict(flat=False), tuple(request.headers.items())))
        if reply.content_type is not None:  # a page, a file, a stream, the metrics text
            response = Response(reply.body, status=reply.status, content_type=reply.content_type)
            response.headers.update(reply.headers)
            return response
        return jsonify(reply.body), reply.status, dict(reply.headers)
    return view


# -- POST /hooks/<provider> before flask -----------------------------------------------------
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_HOOK_PATH = re.compile(r"/hooks/([^/]+)")


class _TooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")


class _EnvironBody:
    """httpapi.Body over a WSGI environ: what a delivery's handler reads."""

    def __init__(self, environ: dict[str, Any], limit: int) -> None:
        self._environ = environ
        self._limit = limit

    is_json = False

    def json(self) -> Any:
        return None

    def form(self) -> dict[str, str]:
        return {}

    def data(self, *, limit: int | None = None, cache: bool = True) -> bytes:
        limit = self._limit if limit is None else limit
        stream = self._environ["wsgi.input"]
        try:
            length: int | None = int(self._environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            length = None
        if length is not None:
            if length > limit:
                raise _TooLargeError(limit)
            return bytes(stream.read(length)) if length > 0 else b""
        if not self._environ.get("wsgi.input_terminated"):
            return b""
        body = bytes(stream.read(limit + 1))  # a chunked body the server has read to its end
        if len(body) > limit:
            raise _TooLargeError(limit)
        return body


class DirectHooks:
    """WSGI middleware: POST /hooks/<provider> answered before flask. A burst of deliveries
    is the server's hottest path, and flask's request and response machinery cost as much
    as the delivery's own work (bench/ingress.py). The same handler (ingress/hooks.py), the
    same checks (query, path, body limit) and the same answers as the flask route would
    give; any other request goes on to flask."""

    def __init__(self, app: WSGIApp, handler: Callable[[Call], Reply], max_delivery: int,
                 logger: logging.Logger) -> None:
        self.app = app
        self.handler = handler
        self.max_delivery = max_delivery
        self.log = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        # as werkzeug decodes a path: WSGI's latin-1 text back to bytes, then UTF-8
        path = str(environ.get("PATH_INFO") or "").encode("latin-1").decode("utf-8", "replace")
        match = _HOOK_PATH.fullmatch(path)
        if match is None:
            return self.app(environ, start_response)
        reply = self._reply(environ, match.group(1))
        body = json.dumps(reply.body, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        headers = {**SECURITY_HEADERS, **reply.headers, "Content-Type": "application/json",
                   "Content-Length": str(len(body))}
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", list(headers.items()))
        return [body]

    def _reply(self, environ: dict[str, Any], provider: str) -> Reply:
        try:
            query = parse_qsl(str(environ.get("QUERY_STRING") or "").encode("latin-1").decode(
                "utf-8", "replace"), keep_blank_values=True)
            httpapi.check_query(query)
            httpapi.check_path({"provider": provider})
            sent = tuple(_sent_headers(environ))
            multi: dict[str, list[str]] = {}
            for name, value in query:
                multi.setdefault(name, []).append(value)
            args = {name: values[0] for name, values in multi.items()}  # the first, as werkzeug
            return self.handler(Call({"provider": provider}, args,
                                     {name.lower(): value for name, value in sent},
                                     _EnvironBody(environ, self.max_delivery), multi, sent))
        except BadRequestError as err:
            return Reply(400, {"message": err.message})
        except _TooLargeError as err:
            return Reply(413, {"message": str(err)})
        except Exception as err:
            if is_storage_full(err):
                self.log.error("POST %s: no space left: %s", environ.get("PATH_INFO"), err)
                return Reply(507, {"message": NO_SPACE})
            self.log.exception("POST %s failed", environ.get("PATH_INFO"))
            return Reply(500, {"message": InternalServerError.description})


def _sent_headers(environ: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """The request's headers as werkzeug lists them (request.headers.items())."""
    for key, value in environ.items():
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            yield key[5:].replace("_", "-").title(), str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key.replace("_", "-").title(), str(value)
