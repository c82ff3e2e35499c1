"""The Kestra-compatible execution API as flask-free routes (webhooks/ingress/httpapi.py):
start (by hand, or by a flow's webhook trigger), list, get, kill, resume, logs and their
Server-Sent Events stream, and the recorded history. webhooks/app.py binds them; an action
route's `<execution_id>` is typed there (httpapi.action_rule). An execution this process does
not hold is answered from the notes history when recorded (get, logs, follow of an ended run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from runner.errors import UsageError
from runner.triggers.webhook import find_trigger, signature_ok
from webhooks.ingress import httpapi
from webhooks.ingress.httpapi import Call, Reply, Route, error
from webhooks.runs import recorded, records
from webhooks.runs.service import FlowService, NotFoundError

BRANCH_DEPTH = 1000  # a UI run's commit is looked for among its branch's last commits
MAX_HISTORY = 100_000  # rows of GET /api/v1/history (more are clamped)
FOLLOW_POLL_SECONDS = 15.0  # an SSE comment is sent this often while no log line arrives
WEBHOOK = "webhook"  # the endpoint: its other query parameters are the flow's, not checked
SSE = "text/event-stream; charset=utf-8"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def routes(service: FlowService) -> list[Route]:
    api = Executions(service)
    follow = "/api/v1/executions/<execution_id>/follow"
    return [Route("POST", "/api/v1/executions/<namespace>/<flow_id>", "start", api.start),
            *[Route(method, "/api/v1/executions/webhook/<namespace>/<flow_id>/<key>", WEBHOOK,
                    api.webhook) for method in ("GET", "POST")],
            Route("GET", "/api/v1/executions", "executions", api.recent),
            Route("GET", "/api/v1/executions/<execution_id>", "execution", api.get),
            Route("GET", "/api/v1/logs/<execution_id>", "logs", api.logs),
            # DELETE is Kestra's method for a kill; POST is kept for existing callers
            *[Route(method, "/api/v1/executions/<execution_id>/kill", "kill", api.kill)
              for method in ("POST", "DELETE")],
            Route("POST", "/api/v1/executions/<execution_id>/resume", "resume", api.resume),
            Route("GET", "/api/v1/history", "history", api.history),
            Route("GET", "/api/v1/history/<run>", "history_run", api.history_run),
            Route("GET", "/api/v1/logs/<execution_id>/follow", "follow", api.follow),
            Route("GET", follow, "follow", api.follow)]


def inputs(call: Call) -> dict[str, Any]:
    """Inputs as Kestra takes them: multipart/url-encoded form fields, or a JSON object."""
    if call.request.is_json:
        body = call.request.json()
        if not isinstance(body, dict):
            raise UsageError("the JSON body must be an object of input values")
        return body
    return dict(call.request.form())


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


class Executions:
    def __init__(self, service: FlowService) -> None:
        self.service = service

    def start(self, call: Call) -> Reply:
        """?ref= picks the commit (or branch); ?branch= names the branch a commit was taken
        from (the UI's Execute runs the commit it shows), which the run is recorded under."""
        repo, ref = call.args.get("repo"), call.args.get("ref")
        trigger = self._manual(repo, ref, call.args.get("branch"))
        execution = self.service.runs.start(call.params["namespace"], call.params["flow_id"],
                                            inputs(call), repo=repo, ref=ref, trigger=trigger)
        if call.args.get("wait", "").lower() == "true":
            self.service.registry.record(execution.id).done.wait()
        return Reply(200, records.described(self.service.registry.describe(execution.id),
                                            self.service.registry.record(execution.id)))

    def webhook(self, call: Call) -> Reply:
        """A flow's webhook trigger (Kestra's URL): the key in the path, an optional signature."""
        namespace, flow_id, key = call.params["namespace"], call.params["flow_id"], call.params["key"]
        repo, ref = call.args.get("repo"), call.args.get("ref")
        if ref is not None and not self._is_branch(repo, ref):
            # the caller is not authenticated: it may pick a branch, never a commit or a pull
            # request's ref, whose flows (a fork's) would run trusted, with every secret
            raise NotFoundError(f"no branch '{ref}': webhook triggers run the flows of a branch")
        target, _ = self.service.catalog.find(namespace, flow_id, repo, ref)
        assert target.flow is not None
        hook = find_trigger(target.flow, key, self.service.secrets)
        if hook is None:
            raise NotFoundError(f"no webhook trigger with this key on {namespace}.{flow_id}")
        raw = call.request.data()
        if not signature_ok(hook, dict(call.sent_headers), raw, self.service.secrets):
            return error(401, "missing or invalid signature")
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            body = text
        trigger = {"type": "webhook", "id": hook.id, "body": body,
                   "headers": dict(call.sent_headers),
                   "parameters": {k: list(v) for k, v in call.query.items()}}
        execution = self.service.runs.start(namespace, flow_id, {}, repo=target.repo,
                                            ref=target.commit, trigger=trigger)
        return Reply(200, self.service.registry.describe(execution.id))

    def _is_branch(self, repo: str | None, ref: str) -> bool:
        name = ref.removeprefix("refs/heads/")
        return any(f"refs/heads/{name}" in git.refs("refs/heads")
                   for served, git in self.service.repos.items() if repo in (None, served))

    def _manual(self, repo: str | None, ref: str | None,
                branch: str | None) -> dict[str, Any] | None:
        """A run started by hand on a branch's commit is recorded under that branch (checked:
        the commit is among the branch's last BRANCH_DEPTH commits)."""
        if branch is None:  # the branch ?ref= names, or the one checked out
            return self._branch_run(repo, ref)
        name = branch.removeprefix("refs/heads/")
        for served, git in sorted(self.service.repos.items()):
            if repo in (None, served) and f"refs/heads/{name}" in git.refs("refs/heads"):
                if ref is not None and git.resolve(ref) not in git.commits(name, BRANCH_DEPTH):
                    raise UsageError(f"{ref[:40]} is not a commit of branch {name}")
                return {"type": "manual", "branch": name}
        raise NotFoundError(f"no branch '{name[:80]}'")

    def _branch_run(self, repo: str | None, ref: str | None) -> dict[str, Any] | None:
        served = [name for name in self.service.repos if repo in (None, name)]
        if ref is None and len(served) == 1:
            current = self.service.repos[served[0]].current_branch()
            return {"type": "manual", "branch": current} if current else None
        if ref is not None and self._is_branch(repo, ref):
            return {"type": "manual", "branch": ref.removeprefix("refs/heads/")}
        return None

    def recent(self, call: Call) -> Reply:
        return Reply(200, self.service.registry.recent(httpapi.integer(call.args, "size", 50)))

    def get(self, call: Call) -> Reply:
        """An execution this process holds, else one recorded in a served repository's notes
        (after a restart, or run by another process): the same shape, plus `recorded`."""
        execution_id = call.params["execution_id"]
        record = self.service.registry.get(execution_id)
        if record is None:
            return Reply(200, self.service.history_views.exact(execution_id))
        return Reply(200, records.described(self.service.registry.describe(execution_id), record))

    def logs(self, call: Call) -> Reply:
        execution_id = call.params["execution_id"]
        record = self.service.registry.get(execution_id)
        if record is None:
            return Reply(200, self.service.history_views.log_lines(execution_id))
        return Reply(200, record.logs)

    def kill(self, call: Call) -> Reply:
        execution_id = call.params["execution_id"]
        if not self.service.runs.kill(execution_id):
            return error(409, f"execution {execution_id} is not running")
        return Reply(202, self.service.registry.describe(execution_id))

    def resume(self, call: Call) -> Reply:
        execution_id = call.params["execution_id"]
        if not self.service.runs.resume(execution_id, inputs(call)):
            return error(409, f"execution {execution_id} is not paused")
        return Reply(200, self.service.registry.describe(execution_id))

    def history(self, call: Call) -> Reply:
        """Recorded runs from the served repositories' notes, newest first."""
        limit = httpapi.integer(call.args, "limit", 100, high=MAX_HISTORY)
        return Reply(200, self.service.history_views.rows(
            repo=call.args.get("repo"), flow=call.args.get("flow"), ref=call.args.get("ref"),
            state=call.args.get("state"), limit=limit))

    def history_run(self, call: Call) -> Reply:
        return Reply(200, self.service.history_views.run(call.params["run"], call.args.get("repo")))

    def follow(self, call: Call) -> Reply:
        """Server-Sent Events: each log line as it is written, then `end` with the final state."""
        execution_id = call.params["execution_id"]
        last = call.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isascii() and last.isdigit() and len(last) < 12 else 0
        if self.service.registry.get(execution_id) is None:  # 404 before the stream starts
            return self._recorded_stream(execution_id, start)
        return Reply(200, self._stream(execution_id, start), STREAM_HEADERS, SSE)

    def _recorded_stream(self, execution_id: str, start: int) -> Reply:
        """A recorded run that has ended: its log lines, then `end`. One still running in
        another process has no stream here (its log is recorded when it ends)."""
        found = self.service.history_views.exact(execution_id, lines=True)
        if not recorded.is_over(found["state"]["current"]):
            return error(409, f"execution {execution_id} runs in another process "
                              f"({found['recorded']['runner'] or 'unknown'}): its log lines are "
                              "recorded when it ends")
        lines = found.pop("logs")
        events = [sse("log", line, index) for index, line in enumerate(lines) if index >= start]
        return Reply(200, iter([*events, sse("end", found["state"])]), STREAM_HEADERS, SSE)

    def _stream(self, execution_id: str, index: int) -> Iterator[str]:
        while True:
            lines, over = self.service.registry.follow(execution_id, index, FOLLOW_POLL_SECONDS)
            for line in lines:
                yield sse("log", line, index)
                index += 1
            if over and not lines:
                yield sse("end", self.service.registry.describe(execution_id)["state"])
                return
            if not lines:
                yield ": waiting\n\n"
