"""ISO-8601 durations as Kestra writes them (PT30S, PT1H30M, P1D, PT0.5S).

`DURATION_PATTERN` is the one definition: the JSON Schema uses it (so editors
and `flows validate` agree) and `parse_duration` matches with it.
"""

from __future__ import annotations

import datetime as dt
import re

_NUMBER = r"\d+(?:[.,]\d+)?"
DURATION_PATTERN = (
    rf"^[Pp](?!$)(?:(?P<weeks>{_NUMBER})[Ww])?(?:(?P<days>{_NUMBER})[Dd])?"
    rf"(?:[Tt](?=\d)(?:(?P<hours>{_NUMBER})[Hh])?(?:(?P<minutes>{_NUMBER})[Mm])?"
    rf"(?:(?P<seconds>{_NUMBER})[Ss])?)?$"
)
"""Python syntax (named groups); `schema_pattern()` gives the JSON Schema form."""

_DURATION = re.compile(DURATION_PATTERN)
EXAMPLES = "e.g. PT30S, PT5M, PT1H30M, P1D"


def schema_pattern() -> str:
    """DURATION_PATTERN without named groups (ECMA-262 regex, as JSON Schema wants)."""
    return re.sub(r"\(\?P<\w+>", "(", DURATION_PATTERN)


def is_duration(text: object) -> bool:
    """Does text have the shape of a duration (says nothing about its size)?"""
    return isinstance(text, str) and _DURATION.match(text.strip()) is not None


def parse_duration(text: str) -> dt.timedelta:
    """Parse an ISO-8601 duration; raise ValueError with a readable message."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"'{text}' is not an ISO-8601 duration ({EXAMPLES})")
    parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v is not None}
    try:
        return dt.timedelta(**parts)
    except OverflowError:
        raise ValueError(f"'{text}' is too long a duration (at most 999999999 days)") from None


def format_duration(delta: dt.timedelta) -> str:
    """Seconds with millisecond precision: PT0S, PT0.25S, PT90S."""
    millis = round(delta.total_seconds() * 1000)
    sign = "-" if millis < 0 else ""
    whole, frac = divmod(abs(millis), 1000)
    return f"{sign}PT{whole}.{frac:03d}".rstrip("0").rstrip(".") + "S"
