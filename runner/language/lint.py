"""Semantic checks on the positioned flow tree: what the schema cannot say.

Unknown types (with the closest known one), legacy aliases, duplicate task and
trigger ids, Dag dependsOn, cron expressions and time zones of Schedule
triggers, input definitions (values, defaults that fit the type and its
validators, duplicate ids), deprecated properties. Diagnostics are data;
nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runner.diagnostics import Diagnostic, Severity
from runner.language.lint_inputs import check_inputs, dynamic
from runner.language.lint_kestra import check as kestra_rules
from runner.tasks.registry import Registry, TypeDef
from runner.yamlsource import Located, Path

FLOW_TASK_LISTS = ("tasks", "errors", "finally", "afterExecution")
SCHEDULE = "io.kestra.plugin.core.trigger.Schedule"
SCRIPT_FAMILY = re.compile(r"^io\.kestra\.plugin\.scripts\.\w+$")
_KIND_LABEL = {"task": "task", "trigger": "trigger", "runner": "task runner"}


class _Findings:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.found: list[Diagnostic] = []

    def add(self, path: Path, severity: Severity, code: str, message: str,
            value: bool = False) -> None:
        line, col = self.located.value_at(path) if value else self.located.pos(path)
        self.found.append(Diagnostic(self.located.file, line, col, severity, code, message))

    def error(self, path: Path, code: str, message: str, value: bool = False) -> None:
        self.add(path, Severity.ERROR, code, message, value)

    def warn(self, path: Path, code: str, message: str, value: bool = False) -> None:
        self.add(path, Severity.WARNING, code, message, value)


def check(located: Located, registry: Registry) -> list[Diagnostic]:
    flow = located.data
    if not isinstance(flow, dict):
        return []
    out = _Findings(located)
    seen: dict[str, Path] = {}
    tasks = list(iter_tasks(flow, registry))
    for found in kestra_rules(flow, tasks, registry):
        out.add(found.path, found.severity, found.code, found.message, found.value)
    for path, task in tasks:
        typedef = _check_type(task, path, "task", registry, out)
        _unique(task.get("id"), (*path, "id"), seen, "task", out)
        runner = task.get("taskRunner")
        if isinstance(runner, dict):
            _check_type(runner, (*path, "taskRunner"), "runner", registry, out)
        _check_retry(task.get("retry"), (*path, "retry"), out)
        if typedef is not None:
            _check_deprecated_properties(task, path, typedef, out)
            if typedef.dag_slot:
                _check_dag(_list(task.get(typedef.dag_slot)), (*path, typedef.dag_slot), out)
    triggers_seen: dict[str, Path] = {}
    for index, trigger in enumerate(_list(flow.get("triggers"))):
        if isinstance(trigger, dict):
            path = ("triggers", index)
            typedef = _check_type(trigger, path, "trigger", registry, out)
            _unique(trigger.get("id"), (*path, "id"), triggers_seen, "trigger", out)
            if typedef is not None:
                _check_deprecated_properties(trigger, path, typedef, out)
                if typedef.name == SCHEDULE:
                    _check_schedule(trigger, path, out)
                from runner.tasks.git_triggers import check as git_trigger_problems

                for problem in git_trigger_problems(typedef.name, trigger):
                    report = out.error if problem.severity == "error" else out.warn
                    report((*path, *problem.path), problem.code, problem.message, value=True)
    check_inputs(_list(flow.get("inputs")), out)
    _check_retry(flow.get("retry"), ("retry",), out)
    if "taskDefaults" in flow:
        out.warn(("taskDefaults",), "deprecated-property",
                 "'taskDefaults' is deprecated; use 'pluginDefaults'")
    return sorted(out.found)


def iter_tasks(flow: dict[str, Any], registry: Registry) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every task mapping in the flow, nested ones included, with its path."""
    for key in FLOW_TASK_LISTS:
        yield from _walk(flow.get(key), (key,), registry)


def _walk(tasks: Any, path: Path, registry: Registry) -> Iterator[tuple[Path, dict[str, Any]]]:
    if not isinstance(tasks, list):
        return
    for index, task in enumerate(tasks):
        if isinstance(task, dict):
            yield from _with_children((*path, index), task, registry)


def _with_children(path: Path, task: dict[str, Any],
                   registry: Registry) -> Iterator[tuple[Path, dict[str, Any]]]:
    yield path, task
    name = task.get("type")
    resolved = registry.resolve(name, "task") if isinstance(name, str) else None
    if resolved is None:
        return
    for below, child in resolved.typedef.children(task):
        if isinstance(child, dict):
            yield from _with_children((*path, *below), child, registry)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unique(ident: Any, path: Path, seen: dict[str, Path], what: str, out: _Findings) -> None:
    if not isinstance(ident, str):
        return
    if ident in seen:
        line = out.located.value_at(seen[ident])[0]
        scope = "task ids are unique within a flow, nested tasks, errors and finally included" \
            if what == "task" else f"{what} ids are unique within a flow"
        out.error(path, f"duplicate-{what}-id",
                  f"{what} id '{ident}' is already used at line {line}; {scope}", value=True)
    else:
        seen[ident] = path


def _check_dag(items: list[Any], path: Path, out: _Findings) -> None:
    """Every dependsOn names a task of the same Dag, and the dependencies have no cycle."""
    depends: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    for index, item in enumerate(items):
        task = item.get("task") if isinstance(item, dict) else None
        if isinstance(task, dict) and isinstance(task.get("id"), str):
            depends[task["id"]] = [d for d in _list(item.get("dependsOn")) if isinstance(d, str)]
            where[task["id"]] = index
    for index, item in enumerate(items):
        for n, name in enumerate(_list(item.get("dependsOn")) if isinstance(item, dict) else []):
            if isinstance(name, str) and name not in depends:
                known = ", ".join(sorted(depends)) or "none"
                out.error((*path, index, "dependsOn", n), "unknown-task",
                          f"dependsOn '{name}' is not a task of this Dag (its tasks: {known})",
                          value=True)
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, chain: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in depends.get(name, []):
            if state.get(dep) == 1:
                return [*chain[chain.index(dep):], dep] if dep in chain else [name, dep]
            if dep in depends and dep not in state:
                found = visit(dep, [*chain, dep])
                if found:
                    return found
        state[name] = 2
        return None

    for name in depends:
        cycle = visit(name, [name]) if name not in state else None
        if cycle:
            out.error((*path, where[cycle[0]], "dependsOn"), "dependency-cycle",
                      f"dependsOn cycle: {' -> '.join(cycle)}; these tasks could never start")
            return


# --- types -------------------------------------------------------------------------------------

def _check_type(node: dict[str, Any], path: Path, kind: str, registry: Registry,
                out: _Findings) -> TypeDef | None:
    name = node.get("type")
    if not isinstance(name, str):
        return None
    resolved = registry.resolve(name, kind)
    if resolved is None:
        label = _KIND_LABEL.get(kind, kind)
        from runner.tasks.plugins import missing_extra  # only for an unknown type

        hint = missing_extra(name)
        out.error((*path, "type"), "unknown-type",
                  hint or f"unknown {label} type '{name}'{_suggest(name, kind, registry)}", value=True)
        return None
    if resolved.via_alias:
        out.warn((*path, "type"), "deprecated-type",
                 f"'{name}' is a legacy name; use '{resolved.typedef.name}'", value=True)
    return resolved.typedef


def _suggest(name: str, kind: str, registry: Registry) -> str:
    """The rest of an unknown-type message: the type most likely meant, or what exists."""
    import difflib

    canonical: dict[str, str] = {}  # every accepted name -> canonical name
    for typedef in registry.of_kind(kind):
        canonical[typedef.name] = typedef.name
        canonical.update({alias: typedef.name for alias in typedef.aliases})
    by_lower = {n.lower(): n for n in canonical}
    if name.lower() in by_lower:
        return f" (type names are case-sensitive: did you mean '{canonical[by_lower[name.lower()]]}'?)"
    package, _, short = name.rpartition(".")
    siblings = {n.rpartition(".")[2]: canonical[n] for n in canonical if n.rpartition(".")[0] == package}
    if siblings:
        match = difflib.get_close_matches(short, list(siblings), n=1, cutoff=0.75)
        if match:
            return f" (did you mean '{siblings[match[0]]}'?)"
        options = sorted(set(siblings.values()))
        listed = " or ".join(f"'{o}'" for o in options)
        if SCRIPT_FAMILY.match(package):
            family = package.rsplit(".", 1)[1]
            return (f": Kestra never had a type named '{short}' there; the {family} script "
                    f"plugin has {listed} (Script runs an inline `script`, Commands runs a list "
                    "of `commands`)")
        return f": there is no '{short}' in {package}; did you mean {listed}?"
    same_short = sorted({canonical[n] for n in canonical if n.rpartition(".")[2].lower() == short.lower()})
    if same_short:
        return f" (did you mean '{same_short[0]}'?)"
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.8)
    if match:
        return f" (did you mean '{canonical[by_lower[match[0]]]}'?)"
    guess = registry.closest(name, kind)
    return f" (did you mean '{guess}'?)" if guess else ""


def _check_deprecated_properties(node: dict[str, Any], path: Path, typedef: TypeDef,
                                 out: _Findings) -> None:
    for key in node:
        spec = typedef.properties.get(key)
        if isinstance(spec, dict) and spec.get("deprecated"):
            out.warn((*path, key), "deprecated-property",
                     f"'{key}' is deprecated for {typedef.name.rsplit('.', 1)[1]}")


def _check_retry(retry: Any, path: Path, out: _Findings) -> None:
    if isinstance(retry, dict) and "maxAttempt" in retry:
        out.warn((*path, "maxAttempt"), "deprecated-property",
                 "'maxAttempt' is deprecated; use 'maxAttempts'")


# --- triggers ----------------------------------------------------------------------------------

def _check_schedule(trigger: dict[str, Any], path: Path, out: _Findings) -> None:
    import zoneinfo  # here and below: what only some flows need loads when one does

    from runner.triggers.cron import validate_cron

    cron = trigger.get("cron")
    with_seconds = trigger.get("withSeconds") is True
    if isinstance(cron, str) and not dynamic(cron):
        problem = validate_cron(cron, with_seconds)
        if problem:
            out.error((*path, "cron"), "invalid-cron", problem, value=True)
    zone = trigger.get("timezone")
    if isinstance(zone, str) and not dynamic(zone):
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            out.error((*path, "timezone"), "invalid-value",
                      f"unknown time zone '{zone}' (an IANA name such as UTC or Europe/Paris)",
                      value=True)


