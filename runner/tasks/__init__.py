"""Task, trigger and task-runner types, by Kestra type name."""

from __future__ import annotations

from functools import cache

from runner.tasks import core, flow, git_triggers, http, kv, scripts, storage
from runner.tasks.base import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import Registry, Resolved, TypeDef

__all__ = ["Outcome", "Registry", "Resolved", "TaskContext", "TaskFailed", "TypeDef",
           "default_registry"]


@cache
def default_registry() -> Registry:
    return Registry([*core.TYPES, *flow.TYPES, *kv.TYPES, *http.TYPES, *scripts.TYPES, *storage.TYPES,
                     *git_triggers.TYPES])
