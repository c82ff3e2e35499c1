"""ISO-8601 durations as Kestra writes them (PT30S, PT1H30M, P1D, PT0.5S)."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> dt.timedelta:
    """Parse an ISO-8601 duration; raise ValueError with a readable message."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"'{text}' is not an ISO-8601 duration (e.g. PT30S, PT5M, PT1H, P1D)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return dt.timedelta(**parts)


def format_duration(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    return f"PT{seconds:.3f}".rstrip("0").rstrip(".") + "S"
