"""pluginDefaults (and the legacy taskDefaults) merged into tasks before validation,
as Kestra does: a property a task leaves out may come from its defaults.

Injected values keep the position of the default they came from, so a bad
default is reported where it is written.
"""

from __future__ import annotations

from typing import Any

from runner.language.lint import iter_tasks
from runner.tasks.registry import Registry
from runner.yamlsource import Located


def _matches(rule_type: str, task_type: str, registry: Registry) -> bool:
    resolved = registry.resolve(task_type, "task")
    names = {task_type, resolved.typedef.name} if resolved else {task_type}
    prefix = rule_type.rstrip(".") + "."
    return any(name == rule_type or name.startswith(prefix) for name in names)


def inject_plugin_defaults(located: Located, registry: Registry) -> None:
    flow = located.data
    rules: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
    for key in ("pluginDefaults", "taskDefaults"):
        items = flow.get(key)
        for index, rule in enumerate(items if isinstance(items, list) else []):
            if isinstance(rule, dict) and isinstance(rule.get("type"), str) \
                    and isinstance(rule.get("values"), dict):
                rules.append(((key, index), rule))
    if not rules:
        return
    for path, task in list(iter_tasks(flow, registry)):
        task_type = task.get("type")
        if not isinstance(task_type, str):
            continue
        for rule_path, rule in rules:
            if not _matches(rule["type"], task_type, registry):
                continue
            for name, value in rule["values"].items():
                if name in ("id", "type") or (name in task and not rule.get("forced")):
                    continue
                task[name] = value
                source = (*rule_path, "values", name)
                located.key_pos[(*path, name)] = located.pos(source)
                located.value_pos[(*path, name)] = located.value_at(source)
