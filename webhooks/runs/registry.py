"""RunRegistry: the executions this server knows (its own runs, and with scale-out the ones
workers relay), their logs as the API serves them, and the supersede groups of their flows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from webhooks.runs.records import NotFoundError, Record


class RunRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        self._groups: dict[str, list[str]] = {}  # concurrency group → executions, oldest first
        self._changed = threading.Condition(self._lock)  # a log line came or a run ended

    def add(self, record: Record, group: str | None = None) -> list[str]:
        """Keep a new run; with a group, the executions of that group it came after."""
        execution_id = record.execution.id
        with self._lock:
            self._records[execution_id] = record
            older = self._groups.get(group, []) if group else []
            if group:
                self._groups[group] = [*(i for i in older if not self._records[i].done.is_set()),
                                       execution_id]
        return older

    def adopt(self, execution_id: str, make: Callable[[], Record]) -> Record:
        """The record of an execution, made (and kept) by make() the first time it is seen."""
        with self._lock:
            record = self._records.get(execution_id)
            if record is None:
                record = self._records[execution_id] = make()
            return record

    def get(self, execution_id: str) -> Record | None:
        with self._lock:
            return self._records.get(execution_id)

    def record(self, execution_id: str) -> Record:
        record = self.get(execution_id)
        if record is None:
            raise NotFoundError(f"execution {execution_id} not found")
        return record

    def all(self) -> list[Record]:
        """Every record, oldest first (a copy: safe to walk while runs go on)."""
        with self._lock:
            return list(self._records.values())

    def describe(self, execution_id: str) -> dict[str, Any]:
        record = self.record(execution_id)
        data = dict(record.view) if record.view is not None else record.execution.to_json()
        data["trigger"] = {"repo": record.repo, "commit": record.commit}
        return data

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        records = self.all()[-limit:]
        return [self.describe(r.execution.id) for r in reversed(records)]

    def log(self, execution_id: str, line: dict[str, Any]) -> None:
        """Add a log line to a known execution (a line of an unknown one is dropped)."""
        record = self.get(execution_id)
        if record is not None:
            record.logs.append(line)
            self.changed()

    def changed(self) -> None:
        """Wake the followers: a record got log lines or ended."""
        with self._changed:
            self._changed.notify_all()

    def follow(self, execution_id: str, start: int,
               timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """The log lines from index start on, waiting up to timeout for some; and whether
        the execution is over (then no line follows those returned)."""
        record = self.record(execution_id)
        with self._changed:
            self._changed.wait_for(lambda: len(record.logs) > start or record.done.is_set(),
                                   timeout)
            return record.logs[start:], record.done.is_set()
