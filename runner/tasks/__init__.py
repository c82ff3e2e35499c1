"""Task, trigger and task-runner types, by Kestra type name.

Each family module (core, flow, scripts …) is imported when a flow first names one of its
types (runner.tasks.index says which module defines which name), so a run of a Log task
does not build every family (issue 21, cold start). BUILTIN_TYPES imports them all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.index import FAMILIES
from runner.tasks.registry import Registry, Resolved, TypeDef

if TYPE_CHECKING:
    BUILTIN_TYPES: tuple[TypeDef, ...]
    UNTRUSTED_OK: frozenset[str]

__all__ = ["BUILTIN_TYPES", "BuiltinRegistry", "Outcome", "Registry", "Resolved", "TaskContext",
           "TaskFailed", "TypeDef", "builtin_registry", "default_registry"]


# The task types an untrusted run (pull request from a fork) may use: flow control, logs and
# outputs, and steps in containers. Everything else (http, kv, notifications, every plugin)
# would act from inside the server, with its network and shared state, so it is refused.
UNTRUSTED_FAMILIES = frozenset({
    "flow", "scripts",
    # loops, and storage.* on the run's own files (never the server's, never the network)
    "each", "foreach_item", "storage_files", "storage_items",
    "execution_vars",  # the run's own vars, or ending it
    # sidecar containers: in an untrusted run they share one loopback-only network namespace
    # with its steps (no network at all: no way out, not even to the host)
    "services",
    # artifacts: download any, publish only as untrusted (never read by trusted runs)
    "artifacts",
})
UNTRUSTED_NAMES = frozenset({
    "io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.debug.Return",
    "io.kestra.plugin.core.debug.Echo", "io.kestra.plugin.core.output.OutputValues",
    "io.kestra.plugin.core.execution.Fail", "io.kestra.plugin.core.execution.Exit",
    "io.kestra.plugin.core.execution.Labels", "io.kestra.plugin.core.storage.LocalFiles",
    "io.kestra.plugin.core.log.Fetch", "io.kestra.plugin.core.metric.Publish",
    "io.kestra.plugin.core.execution.Assert",
    # renders a task and runs it only if its own type is allowed here (checked when it runs)
    "io.kestra.plugin.core.templating.TemplatedTask",
})


@cache
def family_types(family: str) -> tuple[TypeDef, ...]:
    """The types one family module defines, marked untrusted_ok where allowed."""
    types: tuple[TypeDef, ...] = import_module(f"runner.tasks.{family}").TYPES
    whole = family in UNTRUSTED_FAMILIES
    return tuple(replace(t, untrusted_ok=whole or t.name in UNTRUSTED_NAMES) for t in types)


class BuiltinRegistry(Registry):
    """The built-in types, each family registered on the first lookup of one of its names;
    listing them registers every family, in the order of runner.tasks.index."""

    def __init__(self) -> None:
        super().__init__()
        self._family_of = {name: family for family, names in FAMILIES.items() for name in names}
        self._loaded: set[str] = set()
        self._loading = threading.Lock()

    def _load(self, family: str) -> None:
        if family in self._loaded:  # added only once all its types are registered
            return
        with self._loading:
            if family not in self._loaded:
                for typedef in family_types(family):
                    self.register(typedef)
                self._loaded.add(family)

    def resolve(self, name: str, kind: str | None = None) -> Resolved | None:
        family = self._family_of.get(name)
        if family is not None:
            self._load(family)
        return super().resolve(name, kind)

    def closest(self, name: str, kind: str) -> str | None:
        self._load_all()
        return super().closest(name, kind)

    def _load_all(self) -> None:
        for family in FAMILIES:
            self._load(family)

    def __iter__(self) -> Iterator[TypeDef]:
        self._load_all()
        return (t for family in FAMILIES for t in family_types(family))

    def of_kind(self, kind: str) -> Iterator[TypeDef]:
        return (t for t in self if t.kind == kind)


@cache
def builtin_registry() -> BuiltinRegistry:
    return BuiltinRegistry()


@cache
def default_registry() -> Registry:
    """The built-in types and every loadable plugin's (see runner.tasks.plugins)."""
    from runner.tasks.plugins import PluginRegistry

    return PluginRegistry(builtin_registry())  # plugins are imported on the first miss


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_TYPES":
        return tuple(t for family in FAMILIES for t in family_types(family))
    if name == "UNTRUSTED_OK":
        return frozenset(t.name for family in FAMILIES for t in family_types(family)
                         if t.untrusted_ok)
    raise AttributeError(f"module 'runner.tasks' has no attribute {name!r}")
