"""Task, trigger and task-runner types, by Kestra type name."""

from __future__ import annotations

from functools import cache

from runner.tasks import core, flow, fs_local, git_triggers, http, kv, notifications, scripts, storage
from runner.tasks.base import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import Registry, Resolved, TypeDef

__all__ = ["BUILTIN_TYPES", "Outcome", "Registry", "Resolved", "TaskContext", "TaskFailed", "TypeDef",
           "default_registry"]


BUILTIN_TYPES: tuple[TypeDef, ...] = (
    *core.TYPES, *flow.TYPES, *kv.TYPES, *http.TYPES, *scripts.TYPES, *storage.TYPES,
    *git_triggers.TYPES, *notifications.TYPES, *fs_local.TYPES)


@cache
def default_registry() -> Registry:
    """The built-in types and every loadable plugin's (see runner.plugins)."""
    from runner.plugins import installed

    return Registry([*BUILTIN_TYPES, *installed().types])
