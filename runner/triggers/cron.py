"""Cron expressions as Kestra's Schedule trigger writes them.

The only module that imports croniter. Five fields (minute hour day-of-month
month day-of-week), or six with a leading seconds field when the trigger sets
``withSeconds: true``, plus the macros @hourly @daily @weekly @monthly
@yearly @annually @midnight.
"""

from __future__ import annotations

import datetime as dt

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
SECOND = "second"
RANGES = {
    "second": "0-59", "minute": "0-59", "hour": "0-23", "day-of-month": "1-31",
    "month": "1-12 or JAN-DEC", "day-of-week": "0-7 or SUN-SAT",
}
_PROBE_START = dt.datetime(2000, 1, 1)


def expand(expr: str, with_seconds: bool = False) -> str:
    """The expression with a macro replaced by its fields (seconds field added when asked)."""
    text = " ".join(expr.split())
    macro = MACROS.get(text.lower())
    if macro is None:
        return text
    return f"0 {macro}" if with_seconds else macro


def validate_cron(expr: str, with_seconds: bool = False) -> str | None:
    """None when expr is a valid schedule, else a message saying what is wrong."""
    if not isinstance(expr, str) or not expr.strip():
        return "the cron expression is empty"
    text = expand(expr, with_seconds)
    if text.startswith("@"):
        return (f"unknown cron macro '{text}'; use one of {', '.join(MACROS)} "
                "or five fields (minute hour day-of-month month day-of-week)")
    names = (SECOND, *FIELDS) if with_seconds else FIELDS
    fields = text.split(" ")
    if len(fields) != len(names):
        layout = " ".join(names)
        extra = "" if with_seconds or len(fields) != 6 else \
            "; six fields need 'withSeconds: true' (the first one is then the second)"
        return f"'{expr}' has {len(fields)} field(s); a cron expression has {len(names)} " \
               f"({layout}){extra}"
    for index, name in enumerate(names):
        probe = ["*"] * len(names)
        probe[index] = fields[index]
        if not _accepted(" ".join(probe), with_seconds):
            return f"'{expr}': {name} field '{fields[index]}' is invalid (allowed: {RANGES[name]}, " \
                   "'*', lists a,b, ranges a-b and steps */n)"
    if not _accepted(text, with_seconds, fires=True):
        return f"'{expr}' never fires (no date matches every field)"
    return None


def _accepted(text: str, with_seconds: bool, fires: bool = False) -> bool:
    # imported when a cron is first read: croniter and dateutil slow every cold start
    from croniter import CroniterBadDateError, CroniterError, croniter

    try:
        schedule = croniter(text, _PROBE_START, second_at_beginning=with_seconds)
        if fires:
            schedule.get_next(dt.datetime)
    except CroniterBadDateError:
        return not fires
    except (CroniterError, ValueError, KeyError, IndexError, TypeError, OverflowError):
        return False
    return True


def next_time(expr: str, after: dt.datetime, with_seconds: bool = False) -> dt.datetime:
    """The first fire time strictly after `after` (same tzinfo); raise ValueError if invalid."""
    problem = validate_cron(expr, with_seconds)
    if problem:
        raise ValueError(problem)
    from croniter import croniter

    schedule = croniter(expand(expr, with_seconds), after, second_at_beginning=with_seconds)
    result: dt.datetime = schedule.get_next(dt.datetime)
    return result


_SECOND = dt.timedelta(seconds=1)
_FAR = 2**31  # seconds (68 years): how far back `previous_fire` looks


def next_fire(expr: str, zone: dt.tzinfo, after: dt.datetime, with_seconds: bool = False,
              fixed_hour: bool = False) -> dt.datetime:
    """The first fire time strictly after `after` in `zone`. With a fixed hour, the second
    pass of a wall time repeated by a DST change is skipped (Vixie cron's rule)."""
    at = after.astimezone(zone)
    while True:
        at = next_time(expr, at, with_seconds)
        if not fixed_hour or at.replace(fold=0).astimezone(dt.UTC) == at.astimezone(dt.UTC):
            return at


def latest_fire(expr: str, zone: dt.tzinfo, until: dt.datetime, after: dt.datetime,
                with_seconds: bool = False, fixed_hour: bool = False) -> dt.datetime | None:
    """The last fire time in (after, until], by bisection on whole seconds; None if none."""
    def following(at: dt.datetime) -> dt.datetime:
        return next_fire(expr, zone, at, with_seconds, fixed_hour)

    if following(after) > until:
        return None
    lo, hi = int(after.timestamp()), int(until.timestamp())  # following(lo) <= until < following(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if following(dt.datetime.fromtimestamp(mid, dt.UTC)) <= until:
            lo = mid
        else:
            hi = mid
    return following(dt.datetime.fromtimestamp(lo, dt.UTC))


def previous_fire(expr: str, zone: dt.tzinfo, before: dt.datetime, with_seconds: bool = False,
                  fixed_hour: bool = False) -> dt.datetime | None:
    """The last fire time strictly before `before`."""
    span = 64
    while span < _FAR:
        lower = before - dt.timedelta(seconds=span)
        if next_fire(expr, zone, lower, with_seconds, fixed_hour) < before:
            return latest_fire(expr, zone, before - _SECOND, lower, with_seconds, fixed_hour)
        span *= 8
    return None
