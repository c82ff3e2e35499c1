"""Dates as Kestra's Pebble sees them: Java DateTimeFormatter patterns in Python.

Values are parsed from ISO strings (or epoch seconds, or a pattern given as
existingFormat), formatted with Java pattern letters ("yyyy-MM-dd'T'HH:mm") or
Kestra's named formats ("iso", "sql", "iso_date_time"…). The default zone is
UTC (Kestra uses the server's). English names only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from runner.expressions.errors import EvalError
from runner.expressions.runtime import fits, poll, to_text

MAX_PARSE_PATTERN = 1_000  # characters of an existingFormat (it becomes a regular expression)

_ISO_FRACTION = "__iso_fraction__"  # Java's optional, trimmed fraction of second
_ISO_ZONE = "__iso_zone__"  # "[Region/City]" after an offset, when the zone has a name
NAMED = {
    "iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "sql": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
    "iso_local_date": "yyyy-MM-dd",
    "iso_date": "yyyy-MM-ddXXX",
    "iso_local_time": "HH:mm:ss" + _ISO_FRACTION,
    "iso_time": "HH:mm:ss" + _ISO_FRACTION + "XXX",
    "iso_offset_time": "HH:mm:ss" + _ISO_FRACTION + "XXX",
    "iso_local_date_time": "yyyy-MM-dd'T'HH:mm:ss" + _ISO_FRACTION,
    "iso_offset_date_time": "yyyy-MM-dd'T'HH:mm:ss" + _ISO_FRACTION + "XXX",
    "iso_date_time": "yyyy-MM-dd'T'HH:mm:ss" + _ISO_FRACTION + "XXX" + _ISO_ZONE,
    "iso_zoned_date_time": "yyyy-MM-dd'T'HH:mm:ss" + _ISO_FRACTION + "XXX" + _ISO_ZONE,
    "iso8601": "yyyy-MM-dd'T'HH:mm:ss" + _ISO_FRACTION + "XXX",
    "iso_ordinal_date": "yyyy-DDDXXX",
    "rfc_1123_date_time": "EEE, d MMM yyyy HH:mm:ss 'GMT'",
    "full": "EEEE, MMMM d, yyyy 'at' h:mm:ss a zzzz",
    "long": "MMMM d, yyyy 'at' h:mm:ss a z",
    "medium": "MMM d, yyyy, h:mm:ss a",
    "short": "M/d/yy, h:mm a",
}
_LETTERS = re.compile(r"'(?:[^']|'')*'|__iso_fraction__|__iso_zone__|([A-Za-z])\1*|.", re.S)
_UNITS = {"NANOS": 1e-9, "MICROS": 1e-6, "MILLIS": 1e-3, "SECONDS": 1, "MINUTES": 60,
          "HOURS": 3600, "HALF_DAYS": 43200}
_MONTH_UNITS = {"MONTHS": 1, "YEARS": 12, "DECADES": 120, "CENTURIES": 1200, "MILLENNIA": 12000}
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
_OFFSET = re.compile(r"^(?:GMT|UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")


def zone(name: Any) -> dt.tzinfo:
    if name is None:
        return dt.UTC
    text = str(name)
    if text in ("UTC", "Z", "GMT", "UT", "Etc/UTC"):
        return dt.UTC
    offset = _OFFSET.match(text)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        delta = dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        return dt.timezone(sign * delta)
    if not _ZONE_NAME.match(text):
        raise EvalError(f"unknown time zone '{text}'")
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise EvalError(f"unknown time zone '{text}'") from None


def to_datetime(value: Any, tz: dt.tzinfo, existing_format: str | None = None) -> dt.datetime:
    """A zoned date-time from a date-time, an ISO string, epoch seconds or a patterned string."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(12), tz)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).astimezone(tz)
    if not isinstance(value, str):
        raise EvalError(f"cannot read a date from {type(value).__name__}")
    text = value.strip()
    try:
        if existing_format:
            parsed = dt.datetime.strptime(text, _strptime(NAMED.get(existing_format, existing_format)))
        else:
            bracket = re.match(r"^(.*?)\[([^\]]+)\]$", text)
            parsed = dt.datetime.fromisoformat(bracket.group(1) if bracket else text)
            if bracket and parsed.tzinfo is not None:
                parsed = parsed.astimezone(zone(bracket.group(2)))
    except ValueError as err:
        raise EvalError(f"cannot read a date from '{text[:60]}': {err}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _strptime(pattern: str) -> str:
    if len(pattern) > MAX_PARSE_PATTERN:
        raise EvalError(f"a date pattern to parse is longer than {MAX_PARSE_PATTERN} characters")
    out = []
    table = {"yyyy": "%Y", "uuuu": "%Y", "y": "%Y", "u": "%Y", "yy": "%y", "uu": "%y",
             "M": "%m", "MM": "%m", "MMM": "%b", "MMMM": "%B", "d": "%d", "dd": "%d", "D": "%j",
             "DDD": "%j", "H": "%H", "HH": "%H", "h": "%I", "hh": "%I", "m": "%M", "mm": "%M",
             "s": "%S", "ss": "%S", "a": "%p", "EEE": "%a", "E": "%a", "EEEE": "%A", "z": "%Z"}
    for match in _LETTERS.finditer(pattern):
        token = match.group()
        if token == _ISO_FRACTION:
            out.append(".%f")
        elif token == _ISO_ZONE:
            continue
        elif token.startswith("'"):
            out.append(token[1:-1].replace("''", "'").replace("%", "%%") if len(token) > 2 else "'")
        elif match.group(1) in ("X", "x", "Z"):
            out.append("%z")
        elif match.group(1) == "S":
            out.append("%f")
        elif match.group(1):
            if token not in table:
                raise EvalError(f"pattern letters '{token}' cannot be parsed")
            out.append(table[token])
        elif token not in "[]":
            out.append(token.replace("%", "%%"))
    return "".join(out)


def format_date(value: dt.datetime, pattern: str) -> str:
    if pattern == "rfc_1123_date_time":
        value = value.astimezone(dt.UTC)
    pattern = NAMED.get(pattern, pattern)
    out: list[str] = []
    size = 0
    for index, match in enumerate(_LETTERS.finditer(pattern)):
        poll(index)
        out.append(_token(value, match))
        # One letter can print 30 characters ('V': a zone name): count as it grows.
        size = fits(size + len(out[-1]), "date")
    return "".join(out)


def _token(value: dt.datetime, match: re.Match[str]) -> str:
    token = match.group()
    if token == _ISO_FRACTION:
        micros = value.microsecond
        return f".{micros:06d}".rstrip("0") if micros else ""
    if token == _ISO_ZONE:
        key = getattr(value.tzinfo, "key", None)
        return f"[{key}]" if key else ""
    if token.startswith("'"):
        return token[1:-1].replace("''", "'") if len(token) > 2 else "'"
    if match.group(1):
        return _field(value, token[0], len(token))
    return "" if token in "[]" else token


def _offset(value: dt.datetime, colon: bool, z_for_zero: bool, short: bool = False) -> str:
    delta = value.utcoffset() or dt.timedelta(0)
    if not delta and z_for_zero:
        return "Z"
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total) // 60, 60)
    if short and not minutes:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


def _field(v: dt.datetime, letter: str, n: int) -> str:
    if letter in "yu":
        return f"{v.year % 100:02d}" if n == 2 else str(v.year).zfill(n)
    if letter == "Y":
        year = v.isocalendar()[0]
        return f"{year % 100:02d}" if n == 2 else str(year).zfill(n)
    if letter in "ML":
        if n >= 4:
            return calendar.month_name[v.month]
        return calendar.month_abbr[v.month] if n == 3 else str(v.month).zfill(n)
    if letter == "d":
        return str(v.day).zfill(n)
    if letter == "D":
        return str(v.timetuple().tm_yday).zfill(n)
    if letter == "E" or (letter in "ec" and n >= 3):
        return calendar.day_name[v.weekday()] if n >= 4 else calendar.day_abbr[v.weekday()]
    if letter in "ec":
        return str(v.isoweekday() % 7 + 1)
    if letter == "w":
        return str(v.isocalendar()[1]).zfill(n)
    if letter == "Q":
        return str((v.month - 1) // 3 + 1).zfill(n) if n <= 2 else f"Q{(v.month - 1) // 3 + 1}"
    if letter == "a":
        return "AM" if v.hour < 12 else "PM"
    if letter == "H":
        return str(v.hour).zfill(n)
    if letter == "k":
        return str(v.hour or 24).zfill(n)
    if letter == "h":
        return str(v.hour % 12 or 12).zfill(n)
    if letter == "K":
        return str(v.hour % 12).zfill(n)
    if letter == "m":
        return str(v.minute).zfill(n)
    if letter == "s":
        return str(v.second).zfill(n)
    if letter == "S":
        return f"{v.microsecond:06d}000"[:n].ljust(n, "0")
    if letter == "n":
        return str(v.microsecond * 1000).zfill(n)
    if letter == "A":
        return str((v.hour * 3600 + v.minute * 60 + v.second) * 1000 + v.microsecond // 1000)
    if letter == "G":
        return "AD"
    if letter == "X":
        return _offset(v, colon=n in (3, 5), z_for_zero=True, short=n == 1)
    if letter == "x":
        return _offset(v, colon=n in (3, 5), z_for_zero=False, short=n == 1)
    if letter == "Z":
        if n == 4:
            return "GMT" + _offset(v, colon=True, z_for_zero=False)
        return _offset(v, colon=n == 5, z_for_zero=n == 5)
    if letter == "V":
        return getattr(v.tzinfo, "key", None) or _offset(v, colon=True, z_for_zero=True)
    if letter in "zO":
        return (v.tzname() or "UTC") if letter == "z" else "GMT" + _offset(v, True, False)
    raise EvalError(f"unknown pattern letter '{letter}'")


def add(value: dt.datetime, amount: int, unit: str) -> dt.datetime:
    unit = str(unit).upper()
    if unit in _UNITS:
        moved = value.astimezone(dt.UTC) + dt.timedelta(seconds=amount * _UNITS[unit])
        return moved.astimezone(value.tzinfo)
    if unit in ("DAYS", "WEEKS"):
        return value + dt.timedelta(days=amount * (7 if unit == "WEEKS" else 1))
    if unit in _MONTH_UNITS:
        months = value.year * 12 + value.month - 1 + amount * _MONTH_UNITS[unit]
        year, month = divmod(months, 12)
        if not 1 <= year <= 9999:
            raise EvalError("date out of range")
        day = min(value.day, calendar.monthrange(year, month + 1)[1])
        return value.replace(year=year, month=month + 1, day=day)
    raise EvalError(f"unknown time unit '{unit}' (use DAYS, HOURS, MONTHS…)")


def epoch(value: dt.datetime, per_second: int) -> int:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * per_second // 1_000_000


# -- the filters --------------------------------------------------------------------------
def _date_args(timeZone: Any, existingFormat: Any) -> tuple[Any, str | None]:
    return zone(timeZone), None if existingFormat is None else to_text(existingFormat)


def _date(value: Any, format: Any = "iso", existingFormat: Any = None,
          timeZone: Any = None, locale: Any = None) -> Any:
    if value is None:
        return None
    tz, existing = _date_args(timeZone, existingFormat)
    when = to_datetime(value, tz, existing)
    return format_date(when.astimezone(tz) if timeZone else when, to_text(format))


def _date_add(value: Any, amount: Any, unit: Any, format: Any = "iso",
              existingFormat: Any = None, timeZone: Any = None, locale: Any = None) -> Any:
    if value is None:
        return None
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise EvalError("dateAdd: the amount must be an integer")
    tz, existing = _date_args(timeZone, existingFormat)
    when = add(to_datetime(value, tz, existing), amount, to_text(unit))
    return format_date(when.astimezone(tz) if timeZone else when, to_text(format))


def _timestamp(per_second: int) -> Callable[..., Any]:
    def apply(value: Any, existingFormat: Any = None, timeZone: Any = None) -> Any:
        if value is None:
            return None
        tz, existing = _date_args(timeZone, existingFormat)
        return epoch(to_datetime(value, tz, existing), per_second)
    return apply


DATE_FILTERS: dict[str, Callable[..., Any]] = {
    "date": _date,
    "dateAdd": _date_add,
    "timestamp": _timestamp(1),
    "timestampMilli": _timestamp(1_000),
    "timestampMicro": _timestamp(1_000_000),
    "timestampNano": _timestamp(1_000_000_000),
}
