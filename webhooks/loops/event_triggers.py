"""Event triggers in the server: polls the plugin triggers of served flows (a table, a
bucket, a queue, a directory; see runner.ports.polling) and queues one run per event.

The flows are read at each repository's HEAD, again whenever it moves. Each trigger
is polled every `interval` on a small thread pool (a slow source never holds up the
others; one trigger never polls twice at once). A batch's runs and the trigger's new
cursor are committed in one transaction of the run queue, then the source is told
(`finish`): no event is lost or fired twice across crashes and restarts.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from runner.durations import parse_duration
from runner.expressions import Renderer
from runner.model import Flow, Trigger
from runner.ports.polling import (
    DEFAULT_INTERVAL,
    LATE_PROPS,
    REALTIME_INTERVAL,
    REALTIME_SUFFIXES,
    Batch,
    TriggerContext,
    redact,
)
from runner.secrets import masked
from runner.tasks import default_registry
from runner.tasks.registry import Registry, TypeDef
from webhooks.background import Background
from webhooks.loops.heads import moved_heads
from webhooks.runs.queue import NewRun
from webhooks.runs.service import FlowService

log = logging.getLogger("gitflows.triggers")
ROUND_SECONDS = 0.2
_OWN_PROPS = frozenset({"id", "type", "interval", "conditions", "stopAfter", "disabled",
                        "description", "inputs"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _mask(text: str, secrets: set[str]) -> str:
    """Secret values (those secret() gave so far, filled in as props render) and URL passwords
    hidden."""
    return redact(masked(text, secrets))


@dataclass(frozen=True)
class Watch:
    repo: str
    commit: str
    flow: Flow
    trigger: Trigger
    typedef: TypeDef
    interval: float  # seconds

    @property
    def key(self) -> str:
        return f"{self.repo}:{self.flow.qualified_id}:{self.trigger.id}"


def watches_of(repo: str, commit: str, flow: Flow, registry: Registry) -> tuple[list[Watch], list[str]]:
    """The event triggers of a flow, and why any of them cannot be watched."""
    found: list[Watch] = []
    problems: list[str] = []
    if flow.disabled:
        return found, problems
    for trigger in flow.triggers:
        resolved = registry.resolve(trigger.type, "trigger")
        if trigger.disabled or resolved is None or resolved.typedef.poll is None:
            continue
        raw = trigger.props.get("interval")
        default = REALTIME_INTERVAL if trigger.type.endswith(REALTIME_SUFFIXES) else DEFAULT_INTERVAL
        try:
            interval = parse_duration(str(raw)) if raw is not None else default
        except ValueError as err:
            problems.append(f"{flow.qualified_id} trigger {trigger.id}: interval: {err}")
            continue
        seconds = max(interval.total_seconds(), 0.1)
        found.append(Watch(repo, commit, flow, trigger, resolved.typedef, seconds))
    return found, problems


class EventTriggers(Background):
    name = "gitflows-event-triggers"
    interval = ROUND_SECONDS

    def __init__(self, service: FlowService, registry: Registry | None = None,
                 threads: int = 4) -> None:
        super().__init__()
        self.service = service
        self.registry = registry or default_registry()
        self.renderer = Renderer()
        self._heads: dict[str, str] = {}
        self._watches: dict[str, list[Watch]] = {}
        self._due: dict[str, float] = {}  # watch key → monotonic time of its next poll
        self._polling: dict[str, Future[int]] = {}
        self._errors: dict[str, str] = {}  # the last error per watch: logged once, not every poll
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gitflows-trigger")

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def round(self) -> bool:
        self.refresh()
        now = time.monotonic()
        for watch in self.watches():
            busy = self._polling.get(watch.key)
            if busy is not None and not busy.done():
                continue
            if self._due.get(watch.key, 0.0) > now:
                continue
            self._due[watch.key] = now + watch.interval
            self._polling[watch.key] = self._pool.submit(self.poll_once, watch)
        return False

    def refresh(self) -> None:
        """Re-read the triggers of repositories whose HEAD moved."""
        for name, head in moved_heads(self.service.repos, self._heads):
            found: list[Watch] = []
            for item in self.service.catalog.flows(name, head):
                if item.flow is not None:
                    watches, problems = watches_of(name, head, item.flow, self.registry)
                    found.extend(watches)
                    for problem in problems:
                        log.warning("not watched: %s", problem)
            self._heads[name], self._watches[name] = head, found
            for watch in found:
                log.info("watching %s (%s) every %gs", watch.key, watch.trigger.type, watch.interval)

    def watches(self) -> list[Watch]:
        return [w for group in self._watches.values() for w in group]

    def poll_once(self, watch: Watch) -> int:
        """Poll one trigger and queue its events; the number of runs queued."""
        masked: set[str] = set()
        try:
            ctx = self._context(watch, masked)
            batch = watch.typedef.poll(ctx) if watch.typedef.poll else Batch()
        except Exception as err:  # a failing source must not stop the others
            self._failed(watch, masked, err)
            return 0
        self._errors.pop(watch.key, None)
        try:
            return self._commit(watch, batch)
        except Exception as err:  # nothing was committed: the events come again next poll
            self._failed(watch, masked, err)
            return 0

    def _commit(self, watch: Watch, batch: Batch) -> int:
        committed = False
        try:
            added = self._enqueue(watch, batch)
            committed = True
        finally:
            if batch.finish is not None:
                try:
                    batch.finish(committed)
                except Exception as err:
                    log.error("%s: after queueing %d event(s): %s", watch.key, len(batch.events),
                              redact(str(err)))
        if added:
            log.info("%s: %d event(s) → %d run(s) queued", watch.key, len(batch.events), added)
            self.service.intake.wake_queue()
        return added

    def _enqueue(self, watch: Watch, batch: Batch) -> int:
        runs = [NewRun(f"event:{watch.key}:{event.key}", watch.repo, watch.flow.namespace,
                       watch.flow.id, watch.commit,
                       {**event.variables, "type": "event", "id": watch.trigger.id,
                        "source": watch.trigger.type},
                       inputs=dict(watch.trigger.props.get("inputs") or {}))
                for event in batch.events]
        return self.service.intake.queue.enqueue_batch(runs, watch.key, batch.cursor)

    def _context(self, watch: Watch, masked: set[str]) -> TriggerContext:
        def secret(name: str) -> str:
            value = self.service.secrets.get(str(name))
            if value is None:
                raise LookupError(f"secret '{name}' is not set")
            masked.add(value)
            return value

        props = {k: v for k, v in watch.trigger.props.items() if k not in _OWN_PROPS | LATE_PROPS}
        variables: Mapping[str, Any] = {
            "flow": {"id": watch.flow.id, "namespace": watch.flow.namespace},
            "trigger": {"id": watch.trigger.id}}
        rendered = {**self.renderer.render(props, variables, {"secret": secret}),
                    **{k: v for k, v in watch.trigger.props.items() if k in LATE_PROPS}}
        digest = hashlib.sha256(watch.key.encode()).hexdigest()[:12]
        work_dir = (self.service.config.data_dir / "triggers"
                    / f"{_UNSAFE.sub('_', watch.key)[:80]}-{digest}")
        work_dir.mkdir(parents=True, exist_ok=True)
        cursor = self.service.intake.queue.cursor(watch.key)
        return TriggerContext(watch.flow.namespace, watch.flow.id, watch.trigger.id, rendered,
                              cursor, work_dir, self._logger(watch, masked),
                              frozenset(masked))

    def _logger(self, watch: Watch, masked: set[str]) -> Callable[[str, str], None]:
        def emit(level: str, message: str) -> None:
            log.log(logging.getLevelNamesMapping().get(level.upper(), logging.INFO),
                    "%s: %s", watch.key, _mask(message, masked))
        return emit

    def _failed(self, watch: Watch, masked: set[str], err: Exception) -> None:
        message = _mask(f"{type(err).__name__}: {err}", masked)
        if self._errors.get(watch.key) != message:
            log.error("%s: poll failed: %s", watch.key, message)
        self._errors[watch.key] = message

