"""Ticker: fires the Schedule triggers of served flows, at each repository's HEAD.

Schedules are re-read only when a repository's HEAD moves. The Scheduler's claims
make every tick fire once across restarts and across servers sharing the state file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from runner.errors import GitflowsError
from runner.triggers.schedule import Schedule, schedules_of
from webhooks.background import Background
from webhooks.loops.heads import moved_heads
from webhooks.loops.schedule import Scheduler, Tick
from webhooks.runs.service import FlowService

log = logging.getLogger("gitflows.schedule")
POLL_SECONDS = 0.5


class Ticker(Background):
    name = "gitflows-schedule"
    interval = POLL_SECONDS

    def __init__(self, service: FlowService, state_path: Path | None = None) -> None:
        super().__init__()
        self.service = service
        self.scheduler = Scheduler(state_path or service.config.data_dir / "schedule.sqlite3")
        self._heads: dict[str, str] = {}
        self._schedules: dict[str, list[Schedule]] = {}

    def round(self) -> bool:
        self.tick_once()
        return False

    def refresh(self) -> None:
        """Re-read the schedules of repositories whose HEAD moved."""
        changed = False
        for name, head in moved_heads(self.service.repos, self._heads):
            found: list[Schedule] = []
            for item in self.service.catalog.flows(name, head):
                if item.flow is not None:
                    schedules, problems = schedules_of(name, item.flow)
                    found.extend(schedules)
                    for problem in problems:
                        log.warning("not scheduled: %s", problem)
            self._heads[name], self._schedules[name] = head, found
            changed = True
        if changed:
            self.scheduler.update([s for group in self._schedules.values() for s in group])

    def tick_once(self) -> list[str]:
        """Fire what is due now; the execution ids started."""
        self.refresh()
        queued: list[str] = []
        poll = self.scheduler.poll(fire=lambda tick: queued.append(self._fire(tick) or ""))
        for skipped in poll.skipped:
            log.warning("%s", skipped)
        return [key for key in queued if key]

    def _fire(self, tick: Tick) -> str | None:
        """Queue the tick's run durably: claimed ticks are never lost to a crash."""
        commit = self._heads.get(tick.repo)
        if commit is None:  # raising undoes the claim: the tick fires on a later poll
            raise GitflowsError(f"{tick.repo}: its HEAD is unknown; tick kept for later")
        key = (f"schedule:{tick.repo}:{tick.namespace}.{tick.flow_id}:{tick.trigger_id}:"
               f"{tick.scheduled_time.isoformat()}")
        trigger = {"type": "schedule", "id": tick.trigger_id, **tick.variables()}
        return key if self.service.intake.enqueue(key, tick.repo, tick.namespace, tick.flow_id, commit,
                                                  trigger, inputs=tick.inputs) else None
