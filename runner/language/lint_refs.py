"""What the flow's expressions refer to: syntax errors, unknown inputs, unknown tasks.

Every string of the flow document is read as a template (only those holding
`{{` or `{%` matter). A syntax error is an error. `inputs.X` that is not a
declared input and `outputs.T` that names no task of this flow are warnings:
Kestra accepts such a flow (the expression fails, or is handled with `??` or
`isDefined`, at run time). A dynamic key (`outputs[taskrun.value]`) is not
checked. Diagnostics are data; nothing here raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from runner.diagnostics import Diagnostic, Severity
from runner.expressions import references, syntax_error
from runner.language.lint import iter_tasks
from runner.tasks.registry import Registry
from runner.yamlsource import Located, Path

_DOCUMENTATION = frozenset({"description"})  # prose, never rendered


def check_references(located: Located, registry: Registry) -> list[Diagnostic]:
    flow = located.data
    if not isinstance(flow, dict):
        return []
    inputs = _input_ids(flow.get("inputs"))
    tasks = {task["id"] for _, task in iter_tasks(flow, registry) if isinstance(task.get("id"), str)}
    found: list[Diagnostic] = []

    def add(path: Path, code: str, message: str, severity: Severity = Severity.ERROR) -> None:
        line, column = located.value_at(path)
        found.append(Diagnostic(located.file, line, column, severity, code, message))

    for path, text in _strings(flow, ()):
        error = syntax_error(text)
        if error is not None:
            add(path, "invalid-expression", f"invalid expression: {error}")
            continue
        for ref in dict.fromkeys(r[:2] for r in references(text) if len(r) >= 2):
            root, name = ref
            if root == "inputs" and name not in inputs:
                add(path, "unknown-input", f"'inputs.{name}' is not an input of this flow"
                    f"{_guess(name, inputs)}", Severity.WARNING)
            elif root == "outputs" and name not in tasks:
                add(path, "unknown-task", f"'outputs.{name}' names no task of this flow"
                    f"{_guess(name, tasks)}", Severity.WARNING)
    return sorted(found)


def _input_ids(declared: Any) -> set[str]:
    ids: set[str] = set()
    for item in declared if isinstance(declared, list) else ():
        if isinstance(item, dict):
            name = item.get("id", item.get("name"))
            if isinstance(name, str):
                ids.add(name)
    return ids


def _strings(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in _DOCUMENTATION:
                yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))


def _guess(name: str, known: Iterable[str]) -> str:
    import difflib  # only for a "did you mean": not on every validate

    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
