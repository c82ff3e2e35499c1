"""The web UI: a static single-page app (index.html, the app.js modules, app.css in this folder, and
dist/editor.js + dist/editor.css built from src/ by scripts/build-ui) and the flask-free
helpers its JSON API answers with."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from runner.language.parse import parse_flow
from runner.language.schema import build_schema
from runner.language.validate import check_flows
from runner.model import Flow, Input, Task
from runner.tasks import default_registry
from runner.yamlsource import YamlSyntaxError, load

STATIC = Path(__file__).resolve().parent
ASSETS = {"app.js": "text/javascript", "common.js": "text/javascript", "flows.js": "text/javascript",
          "executions.js": "text/javascript", "logs.js": "text/javascript", "dashboard.js": "text/javascript",
          "dashlists.js": "text/javascript",
          "app.css": "text/css", "dist/charts.js": "text/javascript",
          "dist/editor.js": "text/javascript", "dist/editor.css": "text/css",
          "favicon.svg": "image/svg+xml"}
FAVICON = "favicon.svg"


@cache
def flow_schema() -> dict[str, Any]:
    """The flow JSON Schema `flows schema` prints (task types of this process's registry)."""
    return build_schema(default_registry())


def validate_text(text: str, file: str) -> list[dict[str, object]]:
    """The diagnostics `flows validate` reports for this text, as JSON objects."""
    flow, diagnostics = parse_flow(text, file)
    found = list(diagnostics) + (check_flows([flow]) if flow is not None else [])
    return [d.as_dict() for d in sorted(found)]


def identity(text: str, file: str) -> tuple[str | None, str | None]:
    """(namespace, id) as a flow file that does not parse names them, when it does."""
    try:
        data = load(text, file).data
    except YamlSyntaxError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    namespace, flow_id = data.get("namespace"), data.get("id")
    return (namespace if isinstance(namespace, str) else None,
            flow_id if isinstance(flow_id, str) else None)


def task_outline(task: Task, depends_on: list[str] | None = None) -> dict[str, Any]:
    """A task and its branches for the topology; a Dag's children say what they depend on."""
    dag = task.props.get("dependsOn")
    deps: dict[str, Any] = dag if isinstance(dag, dict) else {}
    outline: dict[str, Any] = {
        "id": task.id, "type": task.type, "line": task.position.line, "disabled": task.disabled,
        "children": [{"name": name, "tasks": [task_outline(t, deps.get(t.id)) for t in tasks]}
                     for name, tasks in task.subtasks.items()]}
    if depends_on is not None:
        outline["dependsOn"] = [str(d) for d in depends_on]
    return outline


def input_spec(spec: Input) -> dict[str, Any]:
    values = spec.props.get("values") or spec.props.get("options")
    return {"id": spec.id, "type": spec.type.upper(), "required": spec.required,
            "defaults": spec.defaults, "description": spec.description,
            "values": list(values) if isinstance(values, list | tuple) else None}


def flow_detail(flow: Flow) -> dict[str, Any]:
    """What the flow page shows beside the source: inputs (for the run form), task outline."""
    return {"namespace": flow.namespace, "id": flow.id, "description": flow.description,
            "inputs": [input_spec(i) for i in flow.inputs],
            "tasks": [task_outline(t) for t in flow.tasks],
            "errors": [task_outline(t) for t in flow.errors],
            "finally": [task_outline(t) for t in flow.finally_],
            "triggers": [{"id": t.id, "type": t.type} for t in flow.triggers]}
