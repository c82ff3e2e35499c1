"""Kestra's Schedule trigger, as data: which flows have which schedules, and when they
fire (runner.triggers.cron: five fields, six with `withSeconds`, macros; in the trigger's
`timezone`). The server's loop that fires each tick once is webhooks/loops/schedule.py."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from runner.durations import parse_duration
from runner.model import Flow, Trigger
from runner.triggers.cron import expand, latest_fire, next_fire, previous_fire, validate_cron

SCHEDULE = "io.kestra.plugin.core.trigger.Schedule"
UTC = dt.UTC

Key = tuple[str, str, str, str]  # repo, namespace, flow id, trigger id


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone '{name}' (an IANA name such as Europe/Paris)") from None


def _when(value: Any, zone: zoneinfo.ZoneInfo, what: str) -> dt.datetime:
    """A backfill bound: ISO text or a YAML timestamp/date; naive ones are in the zone."""
    at = value
    if isinstance(value, str):
        try:
            at = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"backfill {what} '{value}' is not an ISO-8601 date-time") from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        at = dt.datetime.combine(value, dt.time())
    if not isinstance(at, dt.datetime):
        raise ValueError(f"backfill {what} must be a date-time, not {type(value).__name__}")
    return at.replace(tzinfo=zone) if at.tzinfo is None else at


@dataclass(frozen=True)
class Schedule:
    """One Schedule trigger of one flow, as the scheduler needs it (ValueError if unusable)."""

    repo: str
    namespace: str
    flow_id: str
    trigger_id: str
    cron: str
    timezone: str = "UTC"
    with_seconds: bool = False
    inputs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    stop_after: tuple[str, ...] = ()
    backfill_start: dt.datetime | None = None
    backfill_end: dt.datetime | None = None
    late_maximum_delay: dt.timedelta | None = None

    def __post_init__(self) -> None:
        problem = validate_cron(self.cron, self.with_seconds)
        if problem:
            raise ValueError(problem)
        _zone(self.timezone)

    @property
    def key(self) -> Key:
        return (self.repo, self.namespace, self.flow_id, self.trigger_id)

    @cached_property
    def zone(self) -> zoneinfo.ZoneInfo:
        return _zone(self.timezone)

    @cached_property
    def fixed_hour(self) -> bool:
        fields = expand(self.cron, self.with_seconds).split(" ")
        return not fields[2 if self.with_seconds else 1].startswith("*")

    @classmethod
    def from_trigger(cls, repo: str, flow: Flow, trigger: Trigger,
                     default_timezone: str = "UTC") -> Schedule:
        props = trigger.props
        cron = props.get("cron")
        if not isinstance(cron, str) or "{{" in cron:
            raise ValueError("cron must be a plain cron expression")
        zone_name = str(props.get("timezone") or default_timezone)
        zone = _zone(zone_name)
        backfill = props.get("backfill") or {}
        if not isinstance(backfill, Mapping):
            raise ValueError("backfill must be a map such as {start: 2024-01-01T00:00:00Z}")
        delay = props.get("lateMaximumDelay")
        return cls(
            repo, flow.namespace, flow.id, trigger.id, cron, zone_name,
            with_seconds=props.get("withSeconds") is True, inputs=dict(props.get("inputs") or {}),
            stop_after=tuple(str(s).upper() for s in props.get("stopAfter") or ()),
            backfill_start=_when(backfill["start"], zone, "start") if "start" in backfill else None,
            backfill_end=_when(backfill["end"], zone, "end") if backfill.get("end") else None,
            late_maximum_delay=parse_duration(delay) if isinstance(delay, str) else None)


def schedules_of(repo: str, flow: Flow, default_timezone: str = "UTC"
                 ) -> tuple[list[Schedule], list[str]]:
    """The enabled Schedule triggers of a flow, and why any other one cannot be scheduled."""
    found: list[Schedule] = []
    problems: list[str] = []
    for trigger in () if flow.disabled else flow.triggers:
        if trigger.type == SCHEDULE and not trigger.disabled:
            try:
                found.append(Schedule.from_trigger(repo, flow, trigger, default_timezone))
            except ValueError as err:
                problems.append(f"{repo}:{flow.qualified_id}/{trigger.id}: {err}")
    return found, problems


# --- fire times -------------------------------------------------------------------------------

def next_tick(spec: Schedule, after: dt.datetime) -> dt.datetime:
    """The first fire time strictly after `after`, in the schedule's zone (DST rule above)."""
    return next_fire(spec.cron, spec.zone, after, spec.with_seconds, spec.fixed_hour)


def latest_tick(spec: Schedule, until: dt.datetime, after: dt.datetime) -> dt.datetime | None:
    """The last fire time in (after, until]; None if none."""
    return latest_fire(spec.cron, spec.zone, until, after, spec.with_seconds, spec.fixed_hour)


def previous_tick(spec: Schedule, before: dt.datetime) -> dt.datetime | None:
    """The last fire time strictly before `before`."""
    return previous_fire(spec.cron, spec.zone, before, spec.with_seconds, spec.fixed_hour)
