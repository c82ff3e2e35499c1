"""Kestra's flow.ForEachItem: split a file of items into batches and start one subflow
execution per batch (`{{ taskrun.items }}` is the batch's file, `{{ taskrun.iteration }}` its
number from 0, as in Kestra); with `wait`, the subflows' outputs are merged into one file (`uri`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.flow import CORE, LEGACY, handlers
from runner.tasks.registry import TypeDef
from runner.tasks.storage_files import chunks, store

MAX_BATCHES = 10_000  # subflow executions one ForEachItem may start


def _batches(ctx: TaskContext, uri: str, batch: dict[str, Any]) -> list[bytes]:
    separator = str(batch.get("separator") or "\n").encode()
    data = ctx.local_file(uri).read_bytes()
    lines = [line + separator for line in data.split(separator) if line.strip()]
    sizes = {k: batch[k] for k in ("rows", "bytes", "partitions", "regexPattern")
             if batch.get(k) is not None}
    found = [b"".join(chunk) for chunk in chunks(lines, sizes or {"rows": 1})]
    if len(found) > MAX_BATCHES:
        raise TaskFailed(f"{len(found)} batches: more than {MAX_BATCHES} subflow executions; "
                         "use larger batches")
    return found


def run_for_each_item(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render({k: v for k, v in task.props.items() if k not in ("inputs", "labels")})
    wait = bool(props.get("wait", True))
    transmit = wait and bool(props.get("transmitFailed", True))  # known only by waiting
    batches = _batches(ctx, str(props["items"]), props.get("batch") or {})
    states: Counter[str] = Counter()
    merged: list[str] = []
    for iteration, data in enumerate(batches):
        if ctx.cancel.is_set():
            return Outcome(State.KILLED)
        items = store(ctx, data, f"batch-{iteration}.ion")
        variables = {"taskrun": {"id": ctx.task_run_id, "items": items, "iteration": iteration}}
        inputs = ctx.render(task.props.get("inputs") or {}, variables)
        labels = ctx.render(task.props.get("labels") or {}, variables)
        result = ctx.run_subflow(str(props["namespace"]), str(props["flowId"]), inputs,
                                 labels, wait)
        states[str(result.state)] += 1
        if wait and result.outputs:
            merged.append(json.dumps(dict(result.outputs), separators=(",", ":"), default=str))
        if wait and result.state.failed:
            ctx.log("ERROR" if transmit else "WARN",
                    f"batch {iteration}: subflow execution {result.execution_id} ended "
                    f"{result.state}")
    outputs: dict[str, Any] = {"numberOfBatches": len(batches), "iterations": dict(states)}
    if merged:
        outputs["uri"] = store(ctx, "".join(f"{m}\n" for m in merged).encode(), "outputs.ion")
    # Kestra's generated children: outputs.<id>_items and outputs.<id>_merge.subflowOutputs
    ctx.publish_outputs_as(f"{task.id}_items", outputs)
    ctx.publish_outputs_as(f"{task.id}_merge",
                           {"subflowOutputs": outputs["uri"]} if "uri" in outputs else {})
    failed = any(State(s).failed for s in states)
    state = handlers(task, ctx, State.FAILED if failed and transmit else State.SUCCESS)
    return Outcome(state, outputs)


TYPES = (
    TypeDef(name=f"{CORE}.ForEachItem", kind="task",
            title="Start a subflow execution per batch of a file's items",
            properties={"items": {"type": "string"}, "namespace": {"type": "string"},
                        "flowId": {"type": "string"}, "inputs": {"type": "object"},
                        "batch": {"type": "object", "additionalProperties": False, "properties": {
                            "rows": {"type": ["integer", "string"]},
                            "bytes": {"type": "string"},
                            "partitions": {"type": ["integer", "string"]},
                            "separator": {"type": "string"},
                            "regexPattern": {"type": "string"}}},
                        "wait": {"type": "boolean"}, "transmitFailed": {"type": "boolean"},
                        "inheritLabels": {"type": "boolean"}, "labels": {"type": ["object", "array"]},
                        "revision": {"type": "integer"}, "scheduleDate": {"type": "string"},
                        "restartBehavior": {"type": "string"}},
            required=("items", "namespace", "flowId"), run=run_for_each_item,
            task_slots=("errors", "finally"), aliases=(f"{LEGACY}.ForEachItem",)),
)
