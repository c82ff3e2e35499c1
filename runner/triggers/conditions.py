"""Kestra's trigger conditions (io.kestra.plugin.core.condition.*), judged against the
execution that ended (a Flow trigger's upstream) and the time now.

Each answer is (holds, why it cannot be judged): a condition that cannot be judged never
lets a trigger fire by mistake. Not judged here: HasRetryAttempt (needs the upstream's task
runs), MultipleCondition (a time window over several flows), PublicHoliday (a holiday
calendar).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from runner.expressions import ExpressionError, Renderer
from runner.expressions.runtime import is_truthy

PREFIXES = ("io.kestra.plugin.core.condition.", "io.kestra.core.models.conditions.types.")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_NTH = {"FIRST": 0, "SECOND": 1, "THIRD": 2, "FOURTH": 3}
Verdict = tuple[bool, str | None]
_RENDERER = Renderer()


def short_name(kind: str) -> str:
    """`ExecutionStatus` for any of its names (current, `…Condition`, legacy package)."""
    for prefix in PREFIXES:
        if kind.startswith(prefix):
            kind = kind[len(prefix):]
            break
    return kind.removesuffix("Condition") if kind not in ("FlowCondition",
                                                         "FlowNamespaceCondition") else kind


def judge(condition: Mapping[str, Any], upstream: Mapping[str, Any], now: dt.datetime) -> Verdict:
    """Does the condition hold for the upstream execution (Finished.variables()) now?"""
    kind = short_name(str(condition.get("type", "")))
    check = _JUDGES.get(kind)
    if check is None:
        return False, f"condition type {condition.get('type')} is not supported"
    try:
        return check(condition, upstream, now)
    except (ValueError, TypeError, ExpressionError) as err:
        return False, f"condition {kind}: {err}"


def _status(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    states = {str(s).upper() for s in c.get("in") or []}
    excluded = {str(s).upper() for s in c.get("notIn") or []}
    state = str(up.get("state"))
    return (not states or state in states) and state not in excluded, None


def _flow(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    return c.get("namespace") == up.get("namespace") and c.get("flowId") == up.get("flowId"), None


def _namespace(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    namespace, done = str(c.get("namespace", "")), str(up.get("namespace", ""))
    comparison = str(c.get("comparison", "PREFIX" if c.get("prefix") else "EQUALS")).upper()
    holds = {"EQUALS": done == namespace, "PREFIX": done.startswith(namespace),
             "SUFFIX": done.endswith(namespace)}.get(comparison)
    return bool(holds), None if holds is not None else f"unknown comparison {comparison}"


def _labels(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    wanted = c.get("labels") or {}
    if isinstance(wanted, list):
        wanted = {str(i.get("key")): i.get("value") for i in wanted if isinstance(i, dict)}
    if "labels" not in up:
        return False, "the upstream execution's labels are not known here"
    have = up.get("labels") or {}
    return all(str(have.get(k)) == str(v) for k, v in wanted.items()), None


def _context(up: Mapping[str, Any]) -> dict[str, Any]:
    """What a condition's expression sees: the upstream flow and execution, as `trigger` too."""
    return {"flow": {"id": up.get("flowId"), "namespace": up.get("namespace"),
                     "revision": up.get("flowRevision")},
            "execution": {"id": up.get("executionId"), "state": {"current": up.get("state")},
                          "outputs": up.get("outputs") or {}},
            "outputs": up.get("outputs") or {}, "trigger": dict(up)}


def _expression(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    return is_truthy(_RENDERER.render(str(c.get("expression", "")), _context(up))), None


def _moment(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    raw = c.get("date")
    if raw is None:
        return now
    text = str(_RENDERER.render(str(raw), _context(up)) if "{{" in str(raw) else raw)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _day_week(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    return DAYS[_moment(c, up, now).weekday()] == str(c.get("dayOfWeek", "")).upper(), None


def _weekend(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    return _moment(c, up, now).weekday() >= 5, None


def _day_week_in_month(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    day = _moment(c, up, now)
    if DAYS[day.weekday()] != str(c.get("dayOfWeek", "")).upper():
        return False, None
    nth = str(c.get("dayInMonth", "")).upper()
    if nth == "LAST":
        return (day + dt.timedelta(days=7)).month != day.month, None
    if nth not in _NTH:
        return False, f"dayInMonth must be FIRST, SECOND, THIRD, FOURTH or LAST, got {nth}"
    return (day.day - 1) // 7 == _NTH[nth], None


def _time_between(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    moment = _moment(c, up, now)

    def local(text: str) -> tuple[dt.time, dt.time]:
        bound = dt.time.fromisoformat(text.replace("Z", "+00:00"))
        at = moment.astimezone(bound.tzinfo) if bound.tzinfo and moment.tzinfo else moment
        return bound.replace(tzinfo=None), at.time()

    after = local(str(c["after"])) if c.get("after") else None
    before = local(str(c["before"])) if c.get("before") else None
    return ((after is None or after[1] >= after[0])
            and (before is None or before[1] <= before[0])), None


def _date_time_between(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
    moment = _moment(c, up, now)

    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    after = parse(str(c["after"])) if c.get("after") else None
    before = parse(str(c["before"])) if c.get("before") else None
    return ((after is None or moment >= after) and (before is None or moment <= before)), None


def _combine(want_any: bool) -> Callable[[Mapping[str, Any], Mapping[str, Any], dt.datetime],
                                         Verdict]:
    """Or (any sub-condition holds) and Not (none holds)."""
    def check(c: Mapping[str, Any], up: Mapping[str, Any], now: dt.datetime) -> Verdict:
        verdicts = [judge(sub if isinstance(sub, dict) else {}, up, now)
                    for sub in c.get("conditions") or []]
        why = next((w for _, w in verdicts if w), None)
        if why:
            return False, why
        found = any(holds for holds, _ in verdicts)
        return (found if want_any else not found), None
    return check


_JUDGES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any], dt.datetime], Verdict]] = {
    "ExecutionStatus": _status, "ExecutionFlow": _flow, "FlowCondition": _flow,
    "ExecutionNamespace": _namespace, "FlowNamespaceCondition": _namespace,
    "ExecutionLabels": _labels, "ExecutionOutputs": _expression, "Expression": _expression,
    "DayWeek": _day_week, "Weekend": _weekend, "DayWeekInMonth": _day_week_in_month,
    "TimeBetween": _time_between, "DateTimeBetween": _date_time_between,
    "Or": _combine(True), "Not": _combine(False),
}
JUDGED = frozenset(_JUDGES)
