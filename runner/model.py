"""The flow model: frozen dataclasses built by parse.py, positions kept.

Type-specific task properties stay in `props` (plain data, rendered at run
time); what every task shares is lifted into fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Retry:
    type: str  # constant | exponential | random
    max_attempts: int | None = None
    max_duration: dt.timedelta | None = None
    interval: dt.timedelta | None = None
    max_interval: dt.timedelta | None = None
    min_interval: dt.timedelta | None = None
    delay_factor: float | None = None
    behavior: str = "RETRY_FAILED_TASK"
    warning_on_retry: bool = False


@dataclass(frozen=True)
class Task:
    id: str
    type: str  # canonical type name (aliases resolved)
    position: Position
    props: Mapping[str, Any] = field(default_factory=dict)
    subtasks: Mapping[str, tuple[Task, ...]] = field(default_factory=dict)
    description: str | None = None
    disabled: bool = False
    timeout: dt.timedelta | None = None
    retry: Retry | None = None
    allow_failure: bool = False
    allow_warning: bool = False
    run_if: str | None = None
    log_level: str | None = None

    def walk(self) -> Iterator[Task]:
        yield self
        for tasks in self.subtasks.values():
            for task in tasks:
                yield from task.walk()


@dataclass(frozen=True)
class Input:
    id: str
    type: str
    position: Position
    required: bool = True
    defaults: Any = None
    description: str | None = None
    props: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    id: str
    type: str
    value: Any
    position: Position


@dataclass(frozen=True)
class Trigger:
    id: str
    type: str
    position: Position
    props: Mapping[str, Any] = field(default_factory=dict)
    disabled: bool = False


@dataclass(frozen=True)
class Concurrency:
    limit: int
    behavior: str = "QUEUE"  # QUEUE | CANCEL | FAIL


@dataclass(frozen=True)
class PluginDefault:
    type: str  # a type name or a prefix of one (e.g. io.kestra.plugin.scripts)
    values: Mapping[str, Any]
    forced: bool = False


@dataclass(frozen=True)
class Flow:
    id: str
    namespace: str
    position: Position
    tasks: tuple[Task, ...]
    description: str | None = None
    revision: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[Input, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[Task, ...] = ()
    finally_: tuple[Task, ...] = ()
    after_execution: tuple[Task, ...] = ()  # run once the final state is known; cannot change it
    outputs: tuple[Output, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    disabled: bool = False
    concurrency: Concurrency | None = None
    plugin_defaults: tuple[PluginDefault, ...] = ()

    @property
    def qualified_id(self) -> str:
        return f"{self.namespace}.{self.id}"

    def all_tasks(self) -> Iterator[Task]:
        for group in (self.tasks, self.errors, self.finally_, self.after_execution):
            for task in group:
                yield from task.walk()
