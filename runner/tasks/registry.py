"""Task and trigger types by name, with legacy aliases and "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.ports.task import TaskFailed, TaskRun

if TYPE_CHECKING:
    from runner.ports.polling import TriggerPoll


@dataclass(frozen=True)
class TypeDef:
    name: str
    kind: str  # task | trigger | runner
    title: str
    properties: Mapping[str, Any] = field(default_factory=dict)  # JSON Schema per property
    required: tuple[str, ...] = ()
    run: TaskRun | None = None
    aliases: tuple[str, ...] = ()  # legacy names, accepted with a deprecation warning
    task_slots: tuple[str, ...] = ()  # properties that hold lists of tasks
    task_maps: tuple[str, ...] = ()  # properties that map names to lists of tasks (Switch cases)
    dag_slot: str | None = None  # a list of {task, dependsOn} (Dag tasks)
    poll: TriggerPoll | None = None  # event triggers: what the server polls (runner.ports.polling)
    # may an untrusted run (fork pull request) use it: it touches only the run's own working
    # directory and containers, never the network from the server or shared state (KV …)
    untrusted_ok: bool = False
    # validated only: why it does not run here (a Kestra server-only feature …); such a task
    # validates, and fails at run time with this reason
    unsupported: str = ""

    def children(self, raw: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
        """(path below the task, child task mapping) for every direct child of a raw task."""
        for slot in self.task_slots:
            items = raw.get(slot)
            for index, item in enumerate(items if isinstance(items, list) else []):
                yield (slot, index), item
        for slot in self.task_maps:
            groups = raw.get(slot)
            for key, items in (groups.items() if isinstance(groups, dict) else ()):
                for index, item in enumerate(items if isinstance(items, list) else []):
                    yield (slot, str(key), index), item
        if self.dag_slot:
            items = raw.get(self.dag_slot)
            for index, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict):
                    yield (self.dag_slot, index, "task"), item.get("task")


def validated_only(name: str, kind: str, title: str, why: str,
                   properties: Mapping[str, Any] | None = None, required: tuple[str, ...] = (),
                   aliases: tuple[str, ...] = ()) -> TypeDef:
    """A type Kestra flows use that this runner accepts but does not run, and says why."""
    def refuse(task: Any, ctx: Any) -> Any:
        raise TaskFailed(f"{name} does not run here: {why}")

    return TypeDef(name=name, kind=kind, title=title, properties=dict(properties or {}),
                   required=required, aliases=aliases, unsupported=why,
                   run=refuse if kind == "task" else None)


@dataclass(frozen=True)
class Resolved:
    typedef: TypeDef
    via_alias: bool


class Registry:
    def __init__(self, defs: Iterable[TypeDef] = ()) -> None:
        self._types: dict[str, TypeDef] = {}
        self._aliases: dict[str, str] = {}
        for typedef in defs:
            self.register(typedef)

    def register(self, typedef: TypeDef) -> None:
        if typedef.name in self._types:
            raise ValueError(f"type {typedef.name} registered twice")
        self._types[typedef.name] = typedef
        for alias in typedef.aliases:
            self._aliases[alias] = typedef.name

    def resolve(self, name: str, kind: str | None = None) -> Resolved | None:
        typedef = self._types.get(name)
        via_alias = False
        if typedef is None and name in self._aliases:
            typedef, via_alias = self._types[self._aliases[name]], True
        if typedef is None or (kind is not None and typedef.kind != kind):
            return None
        return Resolved(typedef, via_alias)

    def closest(self, name: str, kind: str) -> str | None:
        """The known type a misspelt or half-remembered name most likely means."""
        names = [t.name for t in self.of_kind(kind)]
        names += [a for a, target in self._aliases.items() if self._types[target].kind == kind]
        by_lower = {n.lower(): n for n in names}
        import difflib  # only to suggest a name: 4 ms of a cold start otherwise

        match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
        if match:
            return self._canonical(by_lower[match[0]])
        short = name.rsplit(".", 1)[-1].lower()  # same class name, other package
        tails = [n for n in names if n.rsplit(".", 1)[-1].lower() == short]
        return self._canonical(tails[0]) if tails else None

    def _canonical(self, name: str) -> str:
        return self._aliases.get(name, name)

    def of_kind(self, kind: str) -> Iterator[TypeDef]:
        return (t for t in self._types.values() if t.kind == kind)

    def __iter__(self) -> Iterator[TypeDef]:
        return iter(self._types.values())
