"""Plugins: task and trigger types from other distributions, and hints for missing ones.

A plugin is an installed distribution with an entry point in the `gitflows.plugins`
group naming an iterable of TypeDef (conventionally a module's `TYPES`):

    [project.entry-points."gitflows.plugins"]
    hello = "gitflows_plugin_hello:TYPES"

A plugin that fails to load, or defines a type that already exists, is left out and
reported (`flows plugins`, the log); the built-in types always work.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from runner.tasks.registry import Registry, Resolved, TypeDef

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "gitflows.plugins"
BUILT_IN = "built-in"
OWN_DISTRIBUTION = "gitflows"


# Kestra plugin families gitflows provides through an optional extra: type prefix -> extra.
EXTRAS: Mapping[str, str] = {
    "io.kestra.plugin.jdbc.postgresql.": "postgres",
    "io.kestra.plugin.jdbc.mysql.": "mysql",
    "gitflows.plugin.postgresql.": "postgres",
    "io.kestra.plugin.aws.s3.": "s3",
    "io.kestra.plugin.redis.": "redis",
    "io.kestra.plugin.amqp.": "amqp",
    "io.kestra.plugin.mqtt.": "mqtt",
    "io.kestra.plugin.gcp.gcs.": "gcs",
    "io.kestra.plugin.azure.storage.blob.": "azure",
}


@dataclass(frozen=True)
class PluginProblem:
    plugin: str  # the entry point's name
    provider: str  # the distribution, or "?" when unknown
    message: str

    def format(self) -> str:
        return f"plugin '{self.plugin}' ({self.provider}): {self.message}"


@dataclass(frozen=True)
class Plugins:
    types: tuple[TypeDef, ...]
    providers: Mapping[str, str]  # type name -> distribution name
    problems: tuple[PluginProblem, ...]
    not_installed: tuple[str, ...] = ()  # gitflows's own extras whose client library is missing


def missing_extra(type_name: str) -> str | None:
    """For a known Kestra type family gitflows can provide: how to install it; else None."""
    for prefix, extra in EXTRAS.items():
        if type_name.startswith(prefix):
            return f"{type_name} needs the {extra} plugin: pip install 'gitflows[{extra}]'"
    return None


def _provider(entry: EntryPoint) -> str:
    dist = entry.dist
    return dist.name if dist is not None else "?"


def _load_entry(entry: EntryPoint) -> list[TypeDef]:
    loaded = entry.load()
    if isinstance(loaded, (str, bytes)) or not isinstance(loaded, Iterable):
        raise TypeError(f"{entry.value} is not an iterable of TypeDef")
    types = list(loaded)
    for item in types:
        if not isinstance(item, TypeDef):
            raise TypeError(f"{entry.value} holds {type(item).__name__}, not TypeDef")
    return types


def load_plugins(builtins: Iterable[TypeDef],
                 entries: Iterable[EntryPoint] | None = None) -> Plugins:
    """The plugin types that can join the built-ins, and what went wrong with the rest."""
    taken: set[str] = set()
    for typedef in builtins:
        taken.update((typedef.name, *typedef.aliases))
    found: list[TypeDef] = []
    providers: dict[str, str] = {}
    problems: list[PluginProblem] = []
    not_installed: list[str] = []
    from importlib.metadata import entry_points  # email, zipfile…: only when plugins load

    selected = entry_points(group=GROUP) if entries is None else entries
    for entry in sorted(selected, key=lambda e: e.name):
        provider = _provider(entry)
        try:
            types = _load_entry(entry)
        except ModuleNotFoundError as err:
            if provider == OWN_DISTRIBUTION and entry.name in EXTRAS.values():
                not_installed.append(entry.name)  # `pip install 'gitflows[<extra>]'` brings it
                continue
            problems.append(PluginProblem(entry.name, provider,
                                          f"failed to load: {type(err).__name__}: {err}"))
            continue
        except Exception as err:  # a broken plugin must not break gitflows
            problems.append(PluginProblem(entry.name, provider,
                                          f"failed to load: {type(err).__name__}: {err}"))
            continue
        mine: set[str] = set()
        clashes: list[str] = []
        for typedef in types:
            names = {typedef.name, *typedef.aliases}
            clash = sorted(names & (taken | mine))
            if clash:
                clashes.extend(clash)
            mine.update(names)
        if clashes:
            problems.append(PluginProblem(entry.name, provider,
                                          f"defines types that already exist: {', '.join(clashes)}"))
            continue
        taken.update(mine)
        found.extend(types)
        providers.update({typedef.name: provider for typedef in types})
    if problems:
        import logging  # only to report these: 4 ms of every cold start otherwise

        for problem in problems:
            logging.getLogger(__name__).warning("%s", problem.format())
    return Plugins(tuple(found), providers, tuple(problems), tuple(not_installed))


@cache
def installed() -> Plugins:
    """The installed plugins, checked against the built-in types (loaded once per process)."""
    from runner.tasks import BUILTIN_TYPES

    return load_plugins(BUILTIN_TYPES)


class PluginRegistry(Registry):
    """The built-in types first; the installed plugins join on the first lookup the
    built-ins cannot answer, or the first full listing. Importing every plugin (cloud SDKs,
    queue clients) costs seconds, and a flow of built-in tasks never needs them."""

    def __init__(self, builtins: Iterable[TypeDef] | Registry) -> None:
        super().__init__()  # holds the plugins' types; the built-ins stay in their registry
        self._plugins_loaded = False
        self._loading = threading.RLock()
        self._builtins = builtins if isinstance(builtins, Registry) else Registry(builtins)

    def builtins_only(self) -> Registry | None:
        """The built-in types alone while no plugin is loaded (a lean schema for flows that
        use nothing else), else None."""
        return None if self._plugins_loaded else self._builtins

    def load_plugins(self) -> None:
        with self._loading:
            if not self._plugins_loaded:
                for typedef in installed().types:
                    self.register(typedef)
                self._plugins_loaded = True

    def resolve(self, name: str, kind: str | None = None) -> Resolved | None:
        if self._builtins.resolve(name) is not None:  # plugins never shadow a built-in type
            return self._builtins.resolve(name, kind)
        if not self._plugins_loaded:
            self.load_plugins()
        return super().resolve(name, kind)

    def closest(self, name: str, kind: str) -> str | None:
        return Registry(self).closest(name, kind)

    def of_kind(self, kind: str) -> Iterator[TypeDef]:
        return (t for t in self if t.kind == kind)

    def __iter__(self) -> Iterator[TypeDef]:
        self.load_plugins()
        return itertools.chain(self._builtins, super().__iter__())


def describe(registry: Registry, plugins: Plugins) -> list[dict[str, str]]:
    """Every registered type with its provider, for `flows plugins`."""
    return [{"name": t.name, "kind": t.kind, "title": t.title,
             "provider": plugins.providers.get(t.name, BUILT_IN)}
            for t in sorted(registry, key=lambda t: (t.kind, t.name))]
