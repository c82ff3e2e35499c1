"""Kestra's storage.DeduplicateItems and storage.FilterItems: one item a line, each read as
JSON (Kestra's Ion text with bare field names, as CsvToIon writes it, is read too), its
fields the variables of the expression (`{{ customer_email }}`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from runner.events import State
from runner.expressions import ExpressionError
from runner.expressions.runtime import is_truthy
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef
from runner.tasks.storage_files import LEGACY, STORAGE, store

_BARE_FIELD = re.compile(r'([{,]\s*)([A-Za-z_$][\w$]*)\s*:')
_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')  # a JSON string literal, kept by split()


def _quote_bare_fields(line: str) -> str:
    """Ion text's bare field names (`{a:1}`) quoted as JSON wants them; strings untouched."""
    out: list[str] = []
    for index, part in enumerate(_STRING.split(line)):
        out.append(part if index % 2 else _BARE_FIELD.sub(r'\1"\2":', part))
    return "".join(out)


def item_fields(line: str) -> dict[str, Any]:
    """The fields of one item line (Kestra reads each item as a map; other items have none)."""
    for text in (line, _quote_bare_fields(line)):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            continue
        return parsed if isinstance(parsed, dict) else {}
    raise TaskFailed(f"item is neither JSON nor Ion text: {line[:80]}")


def _lines(ctx: TaskContext, uri: str) -> Iterator[str]:
    with ctx.local_file(uri).open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if line.strip():
                yield line


def run_deduplicate(task: Task, ctx: TaskContext) -> Outcome:
    """Keep the last item of each key, in file order (Kestra's two passes)."""
    source = str(ctx.render(task.props["from"]))
    expr = task.props["expr"]
    keyed = [(str(ctx.render(expr, item_fields(line))), line) for line in _lines(ctx, source)]
    last = {key: index for index, (key, _) in enumerate(keyed)}
    kept = [line for index, (key, line) in enumerate(keyed) if last[key] == index]
    uri = store(ctx, "".join(f"{line}\n" for line in kept).encode(), "deduplicated.ion")
    return Outcome(State.SUCCESS, {"uri": uri, "numKeys": len(last),
                                   "processedItemsTotal": len(keyed),
                                   "droppedItemsTotal": len(keyed) - len(kept)})


def _verdict(ctx: TaskContext, task: Task, line: str, on_error: str) -> bool:
    """Does the item match filterCondition (errorOrNullBehavior decides errors and nulls)?"""
    condition = task.props["filterCondition"]
    try:
        rendered = ctx.render(condition, item_fields(line))
    except ExpressionError as err:
        if on_error == "FAIL":
            raise
        ctx.log("DEBUG", f"filterCondition failed on an item: {err}")
        rendered = None
    if rendered is None:
        if on_error == "FAIL":
            raise TaskFailed(f"Expression `{condition}` return `null` on item `{line}`")
        return on_error == "INCLUDE"
    return is_truthy(str(rendered).strip())


def run_filter(task: Task, ctx: TaskContext) -> Outcome:
    source = str(ctx.render(task.props["from"]))
    include = str(ctx.render(task.props.get("filterType", "INCLUDE"))).upper() == "INCLUDE"
    on_error = str(ctx.render(task.props.get("errorOrNullBehavior", "FAIL"))).upper()
    kept: list[str] = []
    processed = 0
    for line in _lines(ctx, source):
        processed += 1
        matched = _verdict(ctx, task, line, on_error)
        if matched == include:
            kept.append(line)
    uri = store(ctx, "".join(f"{line}\n" for line in kept).encode(), "filtered.ion")
    return Outcome(State.SUCCESS, {"uri": uri, "processedItemsTotal": processed,
                                   "droppedItemsTotal": processed - len(kept)})


TYPES = (
    TypeDef(name=f"{STORAGE}.DeduplicateItems", kind="task",
            title="Drop items whose key (expr) repeats, keeping the last (output `uri`)",
            properties={"from": {"type": "string"}, "expr": {"type": "string"}},
            required=("from", "expr"), run=run_deduplicate,
            aliases=(f"{LEGACY}.DeduplicateItems",)),
    TypeDef(name=f"{STORAGE}.FilterItems", kind="task",
            title="Keep or drop the items matching filterCondition (output `uri`)",
            properties={"from": {"type": "string"}, "filterCondition": {"type": "string"},
                        "filterType": {"type": "string", "enum": ["INCLUDE", "EXCLUDE"]},
                        "errorOrNullBehavior": {"type": "string",
                                                "enum": ["FAIL", "INCLUDE", "EXCLUDE"]}},
            required=("from", "filterCondition"), run=run_filter,
            aliases=(f"{LEGACY}.FilterItems",)),
)
