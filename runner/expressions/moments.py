"""Kestra's calendar functions: dayOfWeek, dayOfMonth, monthOfYear, hourOfDay, isWeekend,
isDateBefore, isDateAfter, isDateBetween.

A date is any ISO 8601 text (or a date value); the day, month and hour are those of
the date as written (no conversion to UTC), and comparisons are between instants.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from runner.expressions.dates import to_datetime, zone
from runner.expressions.errors import EvalError


def _moment(name: str, value: Any, what: str = "date") -> dt.datetime:
    if value is None:
        raise EvalError(f"{name}() expects a '{what}' argument")
    try:
        return to_datetime(value, zone(None))
    except EvalError as err:
        raise EvalError(f"{name}() could not parse '{what}': {err}") from None


def day_of_week(date: Any) -> str:
    return _moment("dayOfWeek", date).strftime("%A").upper()


def day_of_month(date: Any) -> int:
    return _moment("dayOfMonth", date).day


def month_of_year(date: Any) -> int:
    return _moment("monthOfYear", date).month


def hour_of_day(date: Any) -> int:
    return _moment("hourOfDay", date).hour


def is_weekend(date: Any) -> bool:
    return _moment("isWeekend", date).weekday() >= 5


def is_date_before(date: Any, before: Any) -> bool:
    return _moment("isDateBefore", date) < _moment("isDateBefore", before, "before")


def is_date_after(date: Any, after: Any) -> bool:
    return _moment("isDateAfter", date) > _moment("isDateAfter", after, "after")


def is_date_between(date: Any, after: Any, before: Any) -> bool:
    moment = _moment("isDateBetween", date)
    return _moment("isDateBetween", after, "after") < moment < _moment("isDateBetween", before, "before")


MOMENT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "dayOfWeek": day_of_week, "dayOfMonth": day_of_month, "monthOfYear": month_of_year,
    "hourOfDay": hour_of_day, "isWeekend": is_weekend, "isDateBefore": is_date_before,
    "isDateAfter": is_date_after, "isDateBetween": is_date_between,
}
