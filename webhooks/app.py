"""create_app(service) → the Flask app of `flows serve`. The only module that imports flask.

Kestra-compatible execution API, JSON for the UI, /healthz.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from runner.errors import GitflowsError, UsageError
from runner.forges.event import Ignored
from runner.triggers.webhook import find_trigger, signature_ok
from webhooks import ui
from webhooks.ingress import auth, httpapi, receive
from webhooks.ingress.httpapi import BadRequestError, Call, Route
from webhooks.ingress.inbox import InboxUnavailableError
from webhooks.runs import records
from webhooks.runs.queue import StorageFullError, is_storage_full
from webhooks.runs.service import FlowService, NotFoundError
from webhooks.ui import editing, listing

BRANCH_DEPTH = 1000  # a UI run's commit is looked for among its branch's last commits
MAX_HISTORY = 100_000  # rows of GET /api/v1/history (more are clamped)
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


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"message": message}), status


def _inputs() -> dict[str, Any]:
    """Inputs as Kestra takes them: multipart/url-encoded form fields, or a JSON object."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise UsageError("the JSON body must be an object of input values")
        return body
    values: dict[str, Any] = dict(request.form.items())
    for name, upload in request.files.items():
        values[name] = upload.read().decode("utf-8", "replace")
    return values


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
        return _error(507, "the server has no space left to store this; try again later")

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

    gate = auth.Gate(service.config, service.environ)  # refuses an exposed server without auth

    @app.before_request
    def guard() -> tuple[Response, int, dict[str, str]] | None:
        # the route the router matched, not a path prefix, says what is exempt ('' for none)
        rule = request.url_rule.rule if request.url_rule is not None else ""
        denied = gate.check(request.method, request.path, _headers(), request.host, rule)
        if denied is not None:
            return jsonify({"message": denied.message}), denied.status, denied.headers
        pairs = request.args.items(multi=True)
        if request.endpoint == "webhook":  # its other parameters are the flow's (trigger.parameters)
            pairs = ((k, v) for k, v in pairs if k in ("repo", "ref"))
        httpapi.check_query(pairs)  # 400 on malformed ones, on every route
        httpapi.check_path(request.view_args or {})
        return None

    @app.after_request
    def harden(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(413)
    def too_large(_err: Exception) -> tuple[Response, int]:
        limit = service.config.max_delivery if request.endpoint == "hook" else service.config.max_body
        return _error(413, f"request body larger than {limit} bytes")

    candidates = receive.config_candidates(service.config.repos, service.environ)

    @app.post("/hooks/<provider>")
    def hook(provider: str) -> tuple[Response, int]:
        """Provider webhooks: verified, then stored durably before the 202 answer."""
        request.max_content_length = service.config.max_delivery
        body = request.get_data(cache=False)
        try:
            reception = receive.receive(provider, request.headers, body, service.inbox,
                                          service.secret_for, candidates)
        except InboxUnavailableError as err:
            app.logger.error("webhook inbox unavailable: %s", err)
            return _error(503, "inbox busy, retry later")
        if reception.status != 202 or isinstance(reception.event, Ignored):
            app.logger.info("webhook %s: %s %s", provider, reception.status, reception.detail)
        if reception.status == 202:
            service.wake_dispatcher()
        return jsonify(reception.body()), reception.status

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "repos": sorted(service.repos)})

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus: queue depth, runs by state, run durations, live workers."""
        from webhooks.scale.metrics import exposition

        body, content_type = exposition(service)
        return Response(body, content_type=content_type)

    @app.get("/api/v1/flows")
    def flows() -> Response:
        listing = service.flows(request.args.get("repo"), request.args.get("ref"))
        return jsonify([{
            "repo": f.repo, "commit": f.commit, "ref": f.ref, "file": f.file,
            "namespace": f.flow.namespace if f.flow else None, "id": f.flow.id if f.flow else None,
            "triggers": [{"id": t.id, "type": t.type} for t in f.flow.triggers] if f.flow else [],
            "diagnostics": [d.as_dict() for d in f.diagnostics],
        } for f in listing])

    @app.post("/api/v1/executions/<namespace>/<flow_id>")
    def start(namespace: str, flow_id: str) -> tuple[Response, int]:
        """?ref= picks the commit (or branch); ?branch= names the branch a commit was taken
        from (the UI's Execute runs the commit it shows), which the run is recorded under."""
        repo, ref = request.args.get("repo"), request.args.get("ref")
        trigger = _manual(repo, ref, request.args.get("branch"))
        execution = service.start(namespace, flow_id, _inputs(), repo=repo, ref=ref,
                                  trigger=trigger)
        if request.args.get("wait", "").lower() == "true":
            service.record(execution.id).done.wait()
        return jsonify(records.described(service.describe(execution.id),
                                         service.record(execution.id))), 200

    @app.route("/api/v1/executions/webhook/<namespace>/<flow_id>/<key>", methods=["GET", "POST"])
    def webhook(namespace: str, flow_id: str, key: str) -> tuple[Response, int]:
        repo, ref = request.args.get("repo"), request.args.get("ref")
        if ref is not None and not _is_branch(repo, ref):
            # the caller is not authenticated: it may pick a branch, never a commit or a pull
            # request's ref, whose flows (a fork's) would run trusted, with every secret
            raise NotFoundError(f"no branch '{ref}': webhook triggers run the flows of a branch")
        target, _ = service.find(namespace, flow_id, repo, ref)
        assert target.flow is not None
        hook = find_trigger(target.flow, key, service.secrets)
        if hook is None:
            raise NotFoundError(f"no webhook trigger with this key on {namespace}.{flow_id}")
        if not signature_ok(hook, dict(request.headers.items()), request.get_data(), service.secrets):
            return _error(401, "missing or invalid signature")
        raw = request.get_data(as_text=True)
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        trigger = {"type": "webhook", "id": hook.id, "body": body,
                   "headers": {k: v for k, v in request.headers.items()},
                   "parameters": {k: request.args.getlist(k) for k in request.args}}
        execution = service.start(namespace, flow_id, {}, repo=target.repo, ref=target.commit,
                                  trigger=trigger)
        return jsonify(service.describe(execution.id)), 200

    def _is_branch(repo: str | None, ref: str) -> bool:
        name = ref.removeprefix("refs/heads/")
        return any(f"refs/heads/{name}" in git.refs("refs/heads")
                   for served, git in service.repos.items() if repo in (None, served))

    def _manual(repo: str | None, ref: str | None, branch: str | None) -> dict[str, Any] | None:
        """A run started by hand on a branch's commit is recorded under that branch (checked:
        the commit is among the branch's last BRANCH_DEPTH commits)."""
        if branch is None:  # the branch ?ref= names, or the one checked out
            return _branch_run(repo, ref)
        name = branch.removeprefix("refs/heads/")
        for served, git in sorted(service.repos.items()):
            if repo in (None, served) and f"refs/heads/{name}" in git.refs("refs/heads"):
                if ref is not None and git.resolve(ref) not in git.commits(name, BRANCH_DEPTH):
                    raise UsageError(f"{ref[:40]} is not a commit of branch {name}")
                return {"type": "manual", "branch": name}
        raise NotFoundError(f"no branch '{name[:80]}'")

    def _branch_run(repo: str | None, ref: str | None) -> dict[str, Any] | None:
        served = [name for name in service.repos if repo in (None, name)]
        if ref is None and len(served) == 1:
            current = service.repos[served[0]].current_branch()
            return {"type": "manual", "branch": current} if current else None
        if ref is not None and _is_branch(repo, ref):
            return {"type": "manual", "branch": ref.removeprefix("refs/heads/")}
        return None

    @app.get("/api/v1/executions")
    def executions() -> Response:
        return jsonify(service.recent(httpapi.integer(request.args, "size", 50)))

    @app.get("/api/v1/executions/<execution_id>")
    def execution(execution_id: str) -> Response:
        return jsonify(records.described(service.describe(execution_id),
                                         service.record(execution_id)))

    @app.get("/api/v1/logs/<execution_id>")
    def logs(execution_id: str) -> Response:
        return jsonify(service.record(execution_id).logs)

    # DELETE is Kestra's method for a kill; POST is kept for existing callers
    @app.route("/api/v1/executions/<execution:execution_id>/kill", methods=["POST", "DELETE"])
    def kill(execution_id: str) -> tuple[Response, int]:
        if not service.kill(execution_id):
            return _error(409, f"execution {execution_id} is not running")
        return jsonify(service.describe(execution_id)), 202

    @app.post("/api/v1/executions/<execution:execution_id>/resume")
    def resume(execution_id: str) -> tuple[Response, int]:
        if not service.resume(execution_id, _inputs()):
            return _error(409, f"execution {execution_id} is not paused")
        return jsonify(service.describe(execution_id)), 200

    @app.get("/api/v1/history")
    def history() -> Response:
        """Recorded runs from the served repositories' notes, newest first."""
        limit = httpapi.integer(request.args, "limit", 100, high=MAX_HISTORY)
        return jsonify(service.history_rows(repo=request.args.get("repo"),
                                            flow=request.args.get("flow"),
                                            ref=request.args.get("ref"),
                                            state=request.args.get("state"), limit=limit))

    @app.get("/api/v1/history/<run>")
    def history_run(run: str) -> Response:
        return jsonify(service.history_run(run, request.args.get("repo")))

    for route in editing.routes(service):  # saving flows as commits, re-runs
        app.add_url_rule(httpapi.action_rule(route.rule), route.name, _view(route),
                         methods=[route.method])
    _ui_routes(app, service)
    return app


def _headers() -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def _view(route: Route) -> Callable[..., tuple[Response, int, dict[str, str]]]:
    """A flask view around a flask-free handler (webhooks/ingress/httpapi.py)."""
    def view(**params: str) -> tuple[Response, int, dict[str, str]]:
        reply = route.handler(Call(params, request.args.to_dict(),
                                   request.get_json(force=True, silent=True), _headers()))
        return jsonify(reply.body), reply.status, dict(reply.headers)
    return view


# -- web UI: the static single-page app and its JSON/SSE API ------------------------------
FOLLOW_POLL_SECONDS = 15.0  # an SSE comment is sent this often while no log line arrives


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


def _ui_routes(app: Flask, service: FlowService) -> None:
    overview = listing.Overview(service)

    @app.get("/api/v1/flows/overview")
    def flows_overview() -> Response:
        """The flows page: flows by repository and namespace, next cron fires, last runs."""
        return jsonify(overview.flows(request.args.get("repo"), request.args.get("namespace"),
                                      request.args.get("ref")))

    @app.get("/api/v1/executions/search")
    def executions_search() -> Response:
        """Live and recorded executions, newest first, filtered, by pages (`next`)."""
        args = request.args.to_dict()
        limit = httpapi.integer(args, "limit", 0) or httpapi.integer(args, "size", 0)
        query = listing.Query.of({**args, "limit": str(limit)} if limit else args)
        return jsonify(listing.search(service, query))

    @app.get("/api/v1/history/<run>/execution")
    def history_execution(run: str) -> Response:
        return jsonify(listing.recorded(service, run))

    @app.get("/")
    def index() -> Response:
        return Response((ui.STATIC / "index.html").read_bytes(), mimetype="text/html")

    @app.get("/favicon.ico")
    def favicon() -> Response | tuple[Response, int]:
        return asset(ui.FAVICON)

    @app.get("/ui/static/<path:name>")
    def asset(name: str) -> Response | tuple[Response, int]:
        if name not in ui.ASSETS:
            return _error(404, f"no UI asset {name}")
        response = Response((ui.STATIC / name).read_bytes(), mimetype=ui.ASSETS[name])
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/api/v1/flows/<namespace>/<flow_id>/source")
    def flow_source(namespace: str, flow_id: str) -> Response:
        target, text = service.source(namespace, flow_id, request.args.get("repo"),
                                      request.args.get("ref"))
        return jsonify(editing.source_answer(service, target, text))

    @app.get("/api/v1/schema")
    def flow_schema() -> Response:
        """The flow JSON Schema (`flows schema`): the UI's completion and property forms."""
        return jsonify(ui.flow_schema())

    @app.post("/api/v1/flows/validate")
    def validate_source() -> Response:
        text = request.get_data(as_text=True)
        return jsonify(ui.validate_text(text, request.args.get("file", "flow.yml")))

    @app.get("/api/v1/executions/<execution:execution_id>/follow")
    @app.get("/api/v1/logs/<execution_id>/follow")
    def follow(execution_id: str) -> Response:
        """Server-Sent Events: each log line as it is written, then `end` with the final state."""
        service.record(execution_id)  # 404 before the stream starts
        last = request.headers.get("Last-Event-ID", "")
        start = int(last) + 1 if last.isascii() and last.isdigit() and len(last) < 12 else 0

        def stream() -> Iterator[str]:
            index = start
            while True:
                lines, over = service.follow(execution_id, index, FOLLOW_POLL_SECONDS)
                for line in lines:
                    yield _sse("log", line, index)
                    index += 1
                if over and not lines:
                    yield _sse("end", service.describe(execution_id)["state"])
                    return
                if not lines:
                    yield ": waiting\n\n"

        return Response(stream(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
