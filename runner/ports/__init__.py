"""The seams the engine and tasks depend on, as Protocols; adapters implement them.

The engine never imports an adapter (docker, pygit2, an HTTP client): a face builds the
adapters and hands them over through these shapes (see runner/session.py).
"""

from __future__ import annotations

from typing import Protocol

from runner.model import Flow
from runner.ports.task import KeyValueStore, NamespaceFiles

__all__ = ["FlowLookup", "KeyValueStore", "NamespaceFiles"]


class FlowLookup(Protocol):
    """Flows by namespace and id: subflows, and the flows a run's end may trigger."""

    def get(self, namespace: str, flow_id: str) -> Flow | None: ...
