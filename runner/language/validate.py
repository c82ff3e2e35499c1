"""Validate flow files and directories: the engine of `flows validate`.

Each file is parsed and linted on its own; then the checks that span files
run on the flows that validated: one definition per namespace + id, and no
subflow cycles (a flow calling itself through Subflow tasks, directly or
through other flows of the same run).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from runner.diagnostics import Diagnostic, Severity
from runner.language.parse import parse_flow
from runner.model import Flow, Task
from runner.tasks import Registry
from runner.yamlsource import YamlSyntaxError, read_source

FLOW_SUFFIXES = (".yml", ".yaml")
FlowKey = tuple[str, str]  # namespace, id
SUBFLOW_TYPES = ("io.kestra.plugin.core.flow.Subflow", "io.kestra.plugin.core.flow.ForEachItem")


def flow_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named on the command line, and *.yml/*.yaml under named directories."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in FLOW_SUFFIXES and p.is_file())
        else:
            yield path


def validate_paths(paths: Iterable[str | Path],
                   registry: Registry | None = None) -> tuple[int, list[Diagnostic]]:
    """(number of files checked, diagnostics of all of them, sorted)."""
    found: list[Diagnostic] = []
    flows: list[Flow] = []
    count = 0
    for file in flow_files(paths):
        count += 1
        try:
            text = read_source(file)  # a huge file is refused after reading its first MiB
        except YamlSyntaxError as err:
            found.extend(err.diagnostics)
            continue
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            found.append(Diagnostic(str(file), 1, 1, Severity.ERROR, "unreadable", reason))
            continue
        flow, diagnostics = parse_flow(text, str(file), registry)
        found.extend(diagnostics)
        if flow is not None:
            flows.append(flow)
    found.extend(check_flows(flows))
    return count, sorted(found)


def check_flows(flows: Sequence[Flow]) -> list[Diagnostic]:
    """Checks across flows validated together: duplicate definitions, subflow cycles."""
    found: list[Diagnostic] = []
    by_id: dict[FlowKey, Flow] = {}
    for flow in flows:
        first = by_id.setdefault((flow.namespace, flow.id), flow)
        if first is not flow:
            found.append(_at(flow.position.file, flow.position.line, flow.position.column,
                             "duplicate-flow",
                             f"flow {flow.qualified_id} is already defined in {first.position.file}"))
    calls: dict[FlowKey, list[tuple[FlowKey, Task]]] = {}
    for key, flow in by_id.items():
        calls[key] = [(target, task) for task in flow.all_tasks()
                      for target in [_subflow_target(task)] if target is not None and target in by_id]
    for key, edges in calls.items():
        for target, task in edges:
            back = _path(calls, target, key)
            if back is None:
                continue
            cycle = " -> ".join(_name(k) for k in [key, *back])
            how = "calls itself" if target == key else \
                f"calls {_name(target)}, which leads back to {_name(key)}"
            found.append(_at(task.position.file, task.position.line, task.position.column,
                             "subflow-cycle",
                             f"subflow cycle: {cycle}; task '{task.id}' {how} (a flow may not "
                             "call itself, directly or through other flows)"))
    return found


def _name(key: FlowKey) -> str:
    return f"{key[0]}.{key[1]}"


def _subflow_target(task: Task) -> FlowKey | None:
    if task.type not in SUBFLOW_TYPES:
        return None
    namespace, flow_id = task.props.get("namespace"), task.props.get("flowId")
    if not isinstance(namespace, str) or not isinstance(flow_id, str):
        return None
    if any("{{" in part or "{%" in part for part in (namespace, flow_id)):
        return None  # decided at run time
    return (namespace, flow_id)


def _path(calls: dict[FlowKey, list[tuple[FlowKey, Task]]], start: FlowKey,
          goal: FlowKey) -> list[FlowKey] | None:
    """Shortest call chain start -> ... -> goal (both included), or None."""
    previous: dict[FlowKey, FlowKey | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here == goal:
            chain: list[FlowKey] = []
            node: FlowKey | None = here
            while node is not None:
                chain.append(node)
                node = previous[node]
            return chain[::-1]
        for target, _ in calls.get(here, []):
            if target not in previous:
                previous[target] = here
                queue.append(target)
    return None


def _at(file: str, line: int, column: int, code: str, message: str) -> Diagnostic:
    return Diagnostic(file, line, column, Severity.ERROR, code, message)
