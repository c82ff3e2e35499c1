"""YAML text → Flow model, or positioned diagnostics.

parse (yamlsource) → schema check → lint → build frozen model. A flow with
errors is never built; warnings travel with the flow.

Results are kept by the text's git blob id (and file name, registry, limits) in a
bounded LRU: the server lists and finds the flows of a commit on every request, and
a commit changes few files, so each blob is parsed once while it is in use.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from runner.diagnostics import Diagnostic, Severity, has_errors
from runner.durations import parse_duration
from runner.errors import InvalidFlowError
from runner.language.defaults import inject_plugin_defaults
from runner.language.lint import check
from runner.language.lint_refs import check_references
from runner.language.schema import FlowValidator, build_schema
from runner.language.schema_cache import source_key
from runner.model import Concurrency, Flow, Input, Output, PluginDefault, Position, Retry, Task, Trigger
from runner.tasks import BuiltinRegistry, Registry, default_registry
from runner.tasks.plugins import PluginRegistry
from runner.yamlsource import LIMITS, Located, YamlLimits, YamlSyntaxError, load, read_source
from runner.yamlsource import Path as NodePath

TASK_FIELDS = frozenset(
    {"id", "type", "description", "disabled", "timeout", "retry", "allowFailure",
     "allowWarning", "runIf", "logLevel"}
)


@cache
def _validator(registry: Registry) -> FlowValidator:
    if isinstance(registry, BuiltinRegistry):  # built from our source alone: no need to build
        return FlowValidator(lambda: build_schema(registry), key=source_key("builtins"))
    return FlowValidator(build_schema(registry))


def _type_names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "type" and isinstance(item, str) and "." in item:
                yield item
            else:
                yield from _type_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _type_names(item)


def _validator_for(located: Located, registry: Registry) -> FlowValidator:
    """The built-in types' validator when plugins are not loaded yet and every dotted `type`
    of the document is built in: a flow of built-in tasks never imports a plugin (seconds
    of cloud SDKs). Each type is checked on its own, so the verdict is the same."""
    lean = registry.builtins_only() if isinstance(registry, PluginRegistry) else None
    if lean is not None and all(lean.resolve(name) is not None
                                for name in _type_names(located.data)):
        return _validator(lean)
    return _validator(registry)


Parsed = tuple[Flow | None, tuple[Diagnostic, ...]]
CACHE_ENTRIES = 1024  # distinct blobs kept parsed
CACHE_BYTES = 64 * 1024 * 1024  # their estimated memory in all
NODE_BYTES = 200  # about what a parsed node (or a diagnostic) costs in memory


class ParseCache:
    """Parsed flows by (blob id, file, registry, limits), least recently used dropped
    past `entries` or past `size` bytes of estimated weight."""

    def __init__(self, entries: int = CACHE_ENTRIES, size: int = CACHE_BYTES) -> None:
        self.entries, self.size = entries, size
        self._kept: OrderedDict[tuple[object, ...], tuple[int, Parsed]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the server parses from several threads

    def get(self, key: tuple[object, ...]) -> Parsed | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return None if found is None else found[1]

    def put(self, key: tuple[object, ...], weight: int, parsed: Parsed) -> None:
        if weight > self.size:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            self._bytes += weight - (old[0] if old else 0)
            self._kept[key] = (weight, parsed)
            while len(self._kept) > self.entries or self._bytes > self.size:
                self._bytes -= self._kept.popitem(last=False)[1][0]

    def __len__(self) -> int:
        return len(self._kept)


PARSED = ParseCache()


def blob_id(data: bytes) -> str:
    """What `git hash-object` names these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def parse_flow(text: str, file: str = "<flow>", registry: Registry | None = None,
               limits: YamlLimits = LIMITS) -> tuple[Flow | None, list[Diagnostic]]:
    """Parse and validate; the flow is None when there is any error. Never raises."""
    registry = registry or default_registry()
    data = text.encode("utf-8", "surrogatepass")
    key = (blob_id(data), file, registry, limits)
    parsed = PARSED.get(key)
    if parsed is None:
        flow, diagnostics, nodes = _checked(text, file, registry, limits)
        parsed = (flow, tuple(diagnostics))
        PARSED.put(key, len(data) + NODE_BYTES * (nodes + len(diagnostics)), parsed)
    return parsed[0], list(parsed[1])


_Result = tuple[Flow | None, list[Diagnostic], int]  # and the YAML's node count


def _checked(text: str, file: str, registry: Registry, limits: YamlLimits) -> _Result:
    try:
        return _parse(text, file, registry, limits)
    except Exception as err:  # a bug in gitflows: still a diagnostic, not a stack trace
        import traceback  # only for this report

        where = traceback.extract_tb(err.__traceback__)[-1]
        return None, [Diagnostic(file, 1, 1, Severity.ERROR, "internal-error",
                                 f"gitflows could not check this file ({type(err).__name__}: {err} "
                                 f"at {Path(where.filename).name}:{where.lineno}); please report it")], 0


def _parse(text: str, file: str, registry: Registry, limits: YamlLimits) -> _Result:
    try:
        located = load(text, file, limits)
    except YamlSyntaxError as err:
        return None, sorted(err.diagnostics), 0
    if not isinstance(located.data, dict):
        line, column = located.value_at(())
        return None, [Diagnostic(file, line, column, Severity.ERROR, "not-a-mapping",
                                 f"a flow is a YAML mapping (key: value lines) with at least id, "
                                 f"namespace and tasks; this document is {_kind(located.data)}")], 0
    inject_plugin_defaults(located, registry)
    diagnostics = sorted({*_validator_for(located, registry).validate(located), *check(located, registry),
                          *check_references(located, registry)})
    if has_errors(diagnostics):
        return None, diagnostics, 0
    return _Builder(located, registry).flow(), diagnostics, located.nodes


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value[:40]}{'...' if len(value) > 40 else ''}'"
    return f"the value {value!r}"


def load_flow(path: str | Path, registry: Registry | None = None) -> Flow:
    """Read and parse a flow file; raise InvalidFlowError when it has errors."""
    file = str(path)
    try:
        text = read_source(path)
    except YamlSyntaxError as err:  # too large to read
        raise InvalidFlowError(err.diagnostics) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidFlowError([Diagnostic(file, 1, 1, Severity.ERROR, "unreadable", str(err))]) \
            from None
    flow, diagnostics = parse_flow(text, file, registry)
    if flow is None:
        raise InvalidFlowError(diagnostics)
    return flow


class _Builder:
    def __init__(self, located: Located, registry: Registry) -> None:
        self.located = located
        self.registry = registry

    def position(self, path: NodePath) -> Position:
        line, column = self.located.pos(path)
        return Position(self.located.file, line, column)

    def flow(self) -> Flow:
        data: dict[str, Any] = self.located.data
        return Flow(
            id=data["id"],
            namespace=data["namespace"],
            position=self.position(()),
            tasks=self.tasks(data.get("tasks"), ("tasks",)),
            description=data.get("description"),
            revision=data.get("revision"),
            labels=_labels(data.get("labels")),
            inputs=tuple(self.input(i, ("inputs", n)) for n, i in enumerate(data.get("inputs") or [])),
            variables=dict(data.get("variables") or {}),
            errors=self.tasks(data.get("errors"), ("errors",)),
            finally_=self.tasks(data.get("finally"), ("finally",)),
            after_execution=self.tasks(data.get("afterExecution"), ("afterExecution",)),
            outputs=tuple(
                Output(o["id"], o.get("type", "STRING"), o["value"], self.position(("outputs", n)))
                for n, o in enumerate(data.get("outputs") or [])),
            triggers=tuple(self.trigger(t, ("triggers", n))
                           for n, t in enumerate(data.get("triggers") or [])),
            disabled=bool(data.get("disabled", False)),
            concurrency=_concurrency(data.get("concurrency")),
            plugin_defaults=tuple(
                PluginDefault(type=d["type"], values=dict(d.get("values") or {}),
                              forced=bool(d.get("forced", False)))
                for key in ("pluginDefaults", "taskDefaults") for d in data.get(key) or []),
        )

    def tasks(self, items: list[dict[str, Any]] | None, path: NodePath) -> tuple[Task, ...]:
        return tuple(self.task(item, (*path, n)) for n, item in enumerate(items or []))

    def task(self, data: dict[str, Any], path: NodePath) -> Task:
        resolved = self.registry.resolve(data["type"], "task")
        assert resolved is not None  # lint rejected unknown types
        typedef = resolved.typedef
        nested = {*typedef.task_slots, *typedef.task_maps, *([typedef.dag_slot] if typedef.dag_slot else [])}
        props = {k: v for k, v in data.items() if k not in TASK_FIELDS and k not in nested}
        subtasks: dict[str, tuple[Task, ...]] = {}
        for slot in typedef.task_slots:
            if isinstance(data.get(slot), list):
                subtasks[slot] = self.tasks(data[slot], (*path, slot))
        for slot in typedef.task_maps:  # Switch `cases`: one list per key, as "cases.<key>"
            for key, items in (data.get(slot) or {}).items():
                subtasks[f"{slot}.{key}"] = self.tasks(items, (*path, slot, str(key)))
        if typedef.dag_slot and isinstance(data.get(typedef.dag_slot), list):
            slot, items = typedef.dag_slot, data[typedef.dag_slot]
            subtasks[slot] = tuple(self.task(item["task"], (*path, slot, n, "task"))
                                   for n, item in enumerate(items))
            props["dependsOn"] = {item["task"]["id"]: list(item.get("dependsOn") or [])
                                  for item in items}
        timeout = data.get("timeout")
        run_if = data.get("runIf")
        return Task(
            id=data["id"],
            type=typedef.name,
            position=self.position(path),
            props=props,
            subtasks=subtasks,
            description=data.get("description"),
            disabled=bool(data.get("disabled", False)),
            timeout=parse_duration(timeout) if timeout else None,
            retry=_retry(data.get("retry")),
            allow_failure=bool(data.get("allowFailure", False)),
            allow_warning=bool(data.get("allowWarning", False)),
            run_if=None if run_if is None else str(run_if).lower() if isinstance(run_if, bool)
            else run_if,
            log_level=data.get("logLevel"),
        )

    def input(self, data: dict[str, Any], path: NodePath) -> Input:
        known = {"id", "name", "type", "required", "defaults", "description"}
        return Input(
            id=data.get("id") or data["name"],
            type=data["type"],
            position=self.position(path),
            required=bool(data.get("required", True)),
            defaults=data.get("defaults"),
            description=data.get("description"),
            props={k: v for k, v in data.items() if k not in known},
        )

    def trigger(self, data: dict[str, Any], path: NodePath) -> Trigger:
        resolved = self.registry.resolve(data["type"], "trigger")
        assert resolved is not None
        return Trigger(
            id=data["id"],
            type=resolved.typedef.name,
            position=self.position(path),
            props={k: v for k, v in data.items() if k not in ("id", "type", "disabled")},
            disabled=bool(data.get("disabled", False)),
        )


def _concurrency(raw: dict[str, Any] | None) -> Concurrency | None:
    if not raw:
        return None
    return Concurrency(limit=int(raw.get("limit", 1)), behavior=str(raw.get("behavior", "QUEUE")))


def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, list):
        return {str(item["key"]): str(item["value"]) for item in raw}
    return {str(k): str(v) for k, v in (raw or {}).items()}


def _retry(raw: dict[str, Any] | None) -> Retry | None:
    if not raw:
        return None

    def duration(key: str) -> Any:
        return parse_duration(raw[key]) if key in raw else None

    return Retry(
        type=raw["type"],
        max_attempts=raw.get("maxAttempts", raw.get("maxAttempt")),
        max_duration=duration("maxDuration"),
        interval=duration("interval"),
        max_interval=duration("maxInterval"),
        min_interval=duration("minInterval"),
        delay_factor=raw.get("delayFactor"),
        behavior=raw.get("behavior", "RETRY_FAILED_TASK"),
        warning_on_retry=bool(raw.get("warningOnRetry", False)),
    )
