"""The flows of a directory (a work tree's `.flows/`), found by namespace and id.

`flows run` uses it so a Subflow task finds its child flow next to the parent.
"""

from __future__ import annotations

from pathlib import Path

from runner.model import Flow
from runner.parse import parse_flow

SUFFIXES = (".yml", ".yaml")


class DirectoryFlows:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._flows: dict[tuple[str, str], Flow] | None = None

    def _load(self) -> dict[tuple[str, str], Flow]:
        if self._flows is None:
            found: dict[tuple[str, str], Flow] = {}
            files = sorted(p for p in self.root.rglob("*") if p.suffix in SUFFIXES and p.is_file()) \
                if self.root.is_dir() else []
            for path in files:
                flow, _ = parse_flow(path.read_text(encoding="utf-8", errors="replace"), str(path))
                if flow is not None:
                    found.setdefault((flow.namespace, flow.id), flow)
            self._flows = found
        return self._flows

    def get(self, namespace: str, flow_id: str) -> Flow | None:
        return self._load().get((namespace, flow_id))
