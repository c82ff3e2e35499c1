"""The web UI's routes, flask-free (webhooks/ingress/httpapi.py): the static single-page app
and the JSON it reads about flows (listing, overview, source, schema, validation) and
executions (search, a recorded run as an execution), and saving flows (webhooks/ui/editing.py)."""

from __future__ import annotations

from webhooks import ui
from webhooks.ingress import httpapi
from webhooks.ingress.httpapi import Call, Reply, Route, error
from webhooks.runs.service import FlowService
from webhooks.ui import editing, failures, listing

HTML = "text/html; charset=utf-8"


def routes(service: FlowService) -> list[Route]:
    api = Api(service)
    # saving flows (editing.py) after the listing and before the source GET: the first of two
    # rules for a path answers OPTIONS
    return [Route("GET", "/api/v1/flows", "flows", api.flows),
            *editing.routes(service),
            Route("GET", "/api/v1/flows/overview", "flows_overview", api.overview),
            Route("GET", "/api/v1/executions/search", "executions_search", api.search),
            Route("GET", "/api/v1/history/<run>/execution", "history_execution", api.recorded),
            *failures.routes(service),
            Route("GET", "/", "index", index),
            Route("GET", "/favicon.ico", "favicon", favicon),
            Route("GET", "/ui/static/<path:name>", "asset", asset),
            Route("GET", "/api/v1/flows/<namespace>/<flow_id>/source", "flow_source", api.source),
            Route("GET", "/api/v1/schema", "flow_schema", schema),
            Route("POST", "/api/v1/flows/validate", "validate_source", validate)]


def index(_call: Call) -> Reply:
    return Reply(200, (ui.STATIC / "index.html").read_bytes(), content_type=HTML)


def favicon(_call: Call) -> Reply:
    return _asset(ui.FAVICON)


def asset(call: Call) -> Reply:
    return _asset(call.params["name"])


def _asset(name: str) -> Reply:
    if name not in ui.ASSETS:
        return error(404, f"no UI asset {name}")
    # every asset is UTF-8 text (the SVG icon too)
    return Reply(200, (ui.STATIC / name).read_bytes(), {"Cache-Control": "no-cache"},
                 content_type=f"{ui.ASSETS[name]}; charset=utf-8")


def schema(_call: Call) -> Reply:
    """The flow JSON Schema (`flows schema`): the UI's completion and property forms."""
    return Reply(200, ui.flow_schema())


def validate(call: Call) -> Reply:
    text = call.request.data().decode("utf-8", "replace")
    return Reply(200, ui.validate_text(text, call.args.get("file", "flow.yml")))


class Api:
    def __init__(self, service: FlowService) -> None:
        self.service = service
        self.overview_of = listing.Overview(service)

    def flows(self, call: Call) -> Reply:
        found = self.service.catalog.flows(call.args.get("repo"), call.args.get("ref"))
        return Reply(200, [{
            "repo": f.repo, "commit": f.commit, "ref": f.ref, "file": f.file,
            "namespace": f.flow.namespace if f.flow else None, "id": f.flow.id if f.flow else None,
            "triggers": [{"id": t.id, "type": t.type} for t in f.flow.triggers] if f.flow else [],
            "diagnostics": [d.as_dict() for d in f.diagnostics],
        } for f in found])

    def overview(self, call: Call) -> Reply:
        """The flows page: flows by repository and namespace, next cron fires, last runs."""
        return Reply(200, self.overview_of.flows(call.args.get("repo"),
                                                 call.args.get("namespace"), call.args.get("ref")))

    def search(self, call: Call) -> Reply:
        """Live and recorded executions, newest first, filtered, by pages (`next`)."""
        args = dict(call.args)
        limit = httpapi.integer(args, "limit", 0) or httpapi.integer(args, "size", 0)
        query = listing.Query.of({**args, "limit": str(limit)} if limit else args)
        return Reply(200, listing.search(self.service, query))

    def recorded(self, call: Call) -> Reply:
        return Reply(200, listing.recorded(self.service, call.params["run"]))

    def source(self, call: Call) -> Reply:
        target, text = self.service.catalog.source(call.params["namespace"], call.params["flow_id"],
                                                   call.args.get("repo"), call.args.get("ref"))
        return Reply(200, editing.source_answer(self.service, target, text))
