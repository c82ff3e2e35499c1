"""The flow schema a test may expect here: schemas/flow.schema.json is generated with every
first-party plugin family installed; where an extra is missing (a base install), its types
are not in the registry, so they are left out of the expectation, and only theirs."""

from __future__ import annotations

import json
from typing import Any

from runner.tasks import default_registry
from runner.tasks.plugins import missing_extra
from tests.conftest import REPO_ROOT

CHECKED_IN = REPO_ROOT / "schemas" / "flow.schema.json"


def expected_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    available = {f"{t.kind}:{t.name}" for t in default_registry()}
    absent = {key for key in schema["definitions"] if ":" in key and key not in available
              and missing_extra(key.partition(":")[2]) is not None}
    for key in absent:
        del schema["definitions"][key]
    refs = {f"#/definitions/{key}" for key in absent}
    return _without(schema, refs)


def _without(node: Any, refs: set[str]) -> Any:
    """node without the list items that dispatch to a left-out type (`then: {$ref: …}`)."""
    if isinstance(node, dict):
        return {key: _without(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_without(item, refs) for item in node
                if not (isinstance(item, dict) and isinstance(item.get("then"), dict)
                        and item["then"].get("$ref") in refs)]
    return node
