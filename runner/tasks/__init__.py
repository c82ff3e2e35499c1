"""Task, trigger and task-runner types, by Kestra type name."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks import (
    core,
    each,
    execution_vars,
    flow,
    foreach_item,
    fs_local,
    git_triggers,
    http,
    kv,
    namespace,
    notifications,
    runtime,
    scripts,
    server_only,
    services,
    state,
    storage,
    storage_files,
    storage_items,
)
from runner.tasks.registry import Registry, Resolved, TypeDef

__all__ = ["BUILTIN_TYPES", "Outcome", "Registry", "Resolved", "TaskContext", "TaskFailed", "TypeDef",
           "default_registry"]


# The task types an untrusted run (pull request from a fork) may use: flow control, logs and
# outputs, and steps in containers. Everything else (http, kv, notifications, every plugin)
# would act from inside the server, with its network and shared state, so it is refused.
UNTRUSTED_OK = frozenset({
    *(t.name for t in flow.TYPES), *(t.name for t in scripts.TYPES),
    "io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.debug.Return",
    "io.kestra.plugin.core.debug.Echo", "io.kestra.plugin.core.output.OutputValues",
    "io.kestra.plugin.core.execution.Fail", "io.kestra.plugin.core.execution.Exit",
    "io.kestra.plugin.core.execution.Labels", "io.kestra.plugin.core.storage.LocalFiles",
    # loops, and storage.* on the run's own files (never the server's, never the network)
    *(t.name for t in each.TYPES), *(t.name for t in foreach_item.TYPES),
    *(t.name for t in storage_files.TYPES),
    *(t.name for t in storage_items.TYPES), "io.kestra.plugin.core.log.Fetch",
    "io.kestra.plugin.core.metric.Publish", "io.kestra.plugin.core.execution.Assert",
    *(t.name for t in execution_vars.TYPES),  # the run's own vars, or ending it
    # renders a task and runs it only if its own type is allowed here (checked when it runs)
    "io.kestra.plugin.core.templating.TemplatedTask",
    # sidecar containers: in an untrusted run they share one loopback-only network namespace
    # with its steps (no network at all: no way out, not even to the host)
    *(t.name for t in services.TYPES),
})

BUILTIN_TYPES: tuple[TypeDef, ...] = tuple(
    replace(t, untrusted_ok=t.name in UNTRUSTED_OK) for t in (
        *core.TYPES, *flow.TYPES, *kv.TYPES, *http.TYPES, *scripts.TYPES, *storage.TYPES,
        *git_triggers.TYPES, *notifications.TYPES, *fs_local.TYPES, *each.TYPES,
        *storage_files.TYPES, *storage_items.TYPES, *runtime.TYPES, *namespace.TYPES,
        *foreach_item.TYPES, *execution_vars.TYPES, *state.TYPES,
        *server_only.TYPES, *services.TYPES))


@cache
def default_registry() -> Registry:
    """The built-in types and every loadable plugin's (see runner.tasks.plugins)."""
    from runner.tasks.plugins import PluginRegistry

    return PluginRegistry(BUILTIN_TYPES)  # plugins are imported on the first miss
