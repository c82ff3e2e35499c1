"""The flows of a directory (a work tree's `.flows/`), found by namespace and id.

`flows run`, `flows ci` and `flows bisect` use it: a Subflow task finds its child flow
next to the parent, and each file is parsed once however many runs look things up.
Files are read through runner.yamlsource, so its size, depth and alias limits hold here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.diagnostics import Diagnostic
from runner.language.parse import parse_flow
from runner.language.validate import flow_files
from runner.model import Flow
from runner.yamlsource import YamlSyntaxError, read_source

InvalidHandler = Callable[[Path, list[Diagnostic]], None]


class DirectoryFlows:
    def __init__(self, root: Path, on_invalid: InvalidHandler | None = None) -> None:
        self.root = root
        self.on_invalid = on_invalid  # told about each file that is not a valid flow
        self._flows: dict[tuple[str, str], Flow] | None = None

    def _load(self) -> dict[tuple[str, str], Flow]:
        if self._flows is None:
            found: dict[tuple[str, str], Flow] = {}
            for path in flow_files([self.root]) if self.root.is_dir() else ():
                try:
                    flow, diagnostics = parse_flow(read_source(path, errors="replace"), str(path))
                except YamlSyntaxError as err:  # too large to read
                    flow, diagnostics = None, err.diagnostics
                if flow is not None:
                    found.setdefault((flow.namespace, flow.id), flow)
                elif self.on_invalid is not None:
                    self.on_invalid(path, diagnostics)
            self._flows = found
        return self._flows

    def all(self) -> dict[str, Flow]:
        """Valid flows by namespace.id (the first file wins a duplicate)."""
        return {flow.qualified_id: flow for flow in self._load().values()}

    def get(self, namespace: str, flow_id: str) -> Flow | None:
        return self._load().get((namespace, flow_id))


class FlowsInOrder:
    """The first of several lookups that has a flow: `flows run FILE` looks next to FILE,
    then in the repository's `.flows/` (Kestra finds subflows by id, wherever kept)."""

    def __init__(self, *lookups: DirectoryFlows) -> None:
        self.lookups = lookups

    def get(self, namespace: str, flow_id: str) -> Flow | None:
        return next((flow for lookup in self.lookups
                     if (flow := lookup.get(namespace, flow_id)) is not None), None)
