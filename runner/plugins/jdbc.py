"""What the SQL plugin families share, without any database library: connection URLs,
Kestra's `:name` parameters turned into driver placeholders, statements split on `;`,
rows turned into JSON-safe values and the fetchType outputs (row, rows, uri, size).

The drivers (psycopg, PyMySQL) live in runner/plugins/postgres.py and mysql.py; they
hand DB-API cursors to the functions here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import re
import urllib.parse
import uuid
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from runner.secrets import hide_credentials

FETCH_TYPES = ("FETCH", "FETCH_ONE", "STORE", "NONE")
DEFAULT_FETCH_SIZE = 10000


class SqlError(Exception):
    """A problem with the task's SQL or properties (not the database's answer)."""


# -- connection URLs ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    database: str | None
    user: str | None
    password: str | None
    options: Mapping[str, str] = field(default_factory=dict)  # the URL's query parameters


def parse_url(url: str, schemes: Sequence[str], default_port: int) -> Target:
    """A JDBC URL (`jdbc:postgresql://host:port/db?user=u`) or a plain one
    (`postgresql://user:password@host/db`) as connection parameters."""
    text = url.strip()
    bare = text[5:] if text.lower().startswith("jdbc:") else text
    parts = urllib.parse.urlsplit(bare)
    if parts.scheme.lower() not in schemes or not bare[len(parts.scheme):].startswith("://"):
        shown = " or ".join(f"jdbc:{s}://host:port/database" for s in schemes[:1])
        raise SqlError(f"url must look like {shown} (or {schemes[0]}://…), got '{hide_credentials(text)}'")
    if "," in parts.netloc:
        raise SqlError("url: several hosts are not supported; give one host")
    options = dict(urllib.parse.parse_qsl(parts.query))
    try:
        port = parts.port or default_port
    except ValueError as err:
        raise SqlError(f"url: {err}") from None
    database = urllib.parse.unquote(parts.path.lstrip("/")) or None
    user = urllib.parse.unquote(parts.username) if parts.username else options.pop("user", None)
    password = (urllib.parse.unquote(parts.password) if parts.password is not None
                else options.pop("password", None))
    return Target(parts.hostname or "localhost", port, database, user, password, options)


# -- SQL text: literals, comments, statements and :name parameters ---------------------

@dataclass(frozen=True)
class Syntax:
    backslash_escapes: bool = False  # MySQL: \' inside '...' does not end the string
    dollar_quotes: bool = False  # PostgreSQL: $tag$ ... $tag$
    hash_comments: bool = False  # MySQL: # to the end of the line
    quote_chars: str = "'\""  # characters opening a quoted string or identifier


_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _segments(sql: str, syntax: Syntax) -> Iterator[tuple[bool, str]]:
    """(is_code, text) pieces of sql: code apart from quoted text and comments."""
    i, start, n = 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        end = -1
        if ch in syntax.quote_chars:
            end = i + 1
            while end < n:
                if syntax.backslash_escapes and sql[end] == "\\":
                    end += 2
                    continue
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote: still inside
                        end += 2
                        continue
                    break
                end += 1
            end = min(end + 1, n)
        elif sql.startswith("--", i) or (ch == "#" and syntax.hash_comments):
            newline = sql.find("\n", i)
            end = n if newline < 0 else newline
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            end = n if close < 0 else close + 2
        elif ch == "$" and syntax.dollar_quotes and (match := _DOLLAR.match(sql, i)):
            close = sql.find(match.group(0), match.end())
            end = n if close < 0 else close + len(match.group(0))
        if end < 0:
            i += 1
            continue
        if i > start:
            yield True, sql[start:i]
        yield False, sql[i:end]
        i = start = end
    if start < n:
        yield True, sql[start:]


def split_statements(sql: str, syntax: Syntax) -> list[str]:
    """The statements of sql, split on `;` outside quotes and comments."""
    statements: list[str] = []
    current: list[str] = []
    for is_code, text in _segments(sql, syntax):
        if not is_code:
            current.append(text)
            continue
        pieces = text.split(";")
        for piece in pieces[:-1]:
            current.append(piece)
            statements.append("".join(current))
            current = []
        current.append(pieces[-1])
    statements.append("".join(current))
    return [s.strip() for s in statements if _has_code(s, syntax)]


def _has_code(statement: str, syntax: Syntax) -> bool:
    """False for a statement of blanks and comments only."""
    for is_code, text in _segments(statement, syntax):
        if text.strip() if is_code else text[:1] in syntax.quote_chars + "$":
            return True
    return False


def bind(sql: str, parameters: Mapping[str, Any] | None, syntax: Syntax) -> tuple[str, list[Any] | None]:
    """Kestra's `:name` placeholders as the driver's `%s`, and the values in their order.

    Values are bound by the driver, never pasted into the text; `:name` inside quoted
    text, comments and PostgreSQL's `::type` casts is left alone, as are names absent
    from parameters. Without parameters the SQL goes to the driver unchanged."""
    if not parameters:
        return sql, None
    values: list[Any] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            return match.group(0)
        values.append(driver_value(parameters[name]))
        return "%s"

    out: list[str] = []
    for is_code, text in _segments(sql, syntax):
        escaped = text.replace("%", "%%")  # the drivers read %s / %% in the whole text
        out.append(_PARAM.sub(placeholder, escaped) if is_code else escaped)
    return "".join(out), values


def driver_value(value: Any) -> Any:
    """A rendered parameter as the driver takes it: maps become JSON text."""
    if isinstance(value, Mapping):
        return json.dumps(value)
    return value


# -- values ----------------------------------------------------------------------------


def zone_of(zone_id: Any) -> dt.tzinfo | None:
    if zone_id in (None, ""):
        return None
    try:
        return zoneinfo.ZoneInfo(str(zone_id))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SqlError(f"timeZoneId: unknown time zone '{zone_id}'") from None


def iso_duration(delta: dt.timedelta) -> str:
    """A timedelta as ISO-8601 (Java's Duration.toString: PT26H3M0.5S)."""
    total = delta.total_seconds()
    sign = "-" if total < 0 else ""
    micros = abs(delta // dt.timedelta(microseconds=1))
    hours, rest = divmod(micros, 3600 * 10**6)
    minutes, rest = divmod(rest, 60 * 10**6)
    seconds = rest / 10**6
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or text == "PT":
        text += f"{seconds:g}S" if seconds % 1 else f"{int(seconds)}S"
    return sign + text


def json_safe(value: Any, zone: dt.tzinfo | None = None) -> Any:
    """A database value as JSON: ISO dates and times, exact numbers, base64 bytes."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)  # never lose digits
    if isinstance(value, dt.datetime):
        if zone is not None and value.tzinfo is not None:
            value = value.astimezone(zone)
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, zone) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, zone) for v in value]
    return str(value)  # network addresses, ranges, geometry …: their text form


# -- running statements ------------------------------------------------------------------


class Cursor(Protocol):
    """The part of a DB-API cursor used here."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: Any, params: Any = ...) -> Any: ...

    def fetchmany(self, size: int = ...) -> Sequence[Sequence[Any]]: ...


def fetch_type(props: Mapping[str, Any]) -> str:
    """fetchType, honouring Kestra's deprecated fetchOne / store / fetch booleans."""
    for flag, kind in (("fetch", "FETCH"), ("fetchOne", "FETCH_ONE"), ("store", "STORE")):
        if props.get(flag) in (True, "true"):
            return kind
    value = str(props.get("fetchType") or "NONE").upper()
    if value not in FETCH_TYPES:
        raise SqlError(f"fetchType must be one of {', '.join(FETCH_TYPES)}, got '{value}'")
    return value


def fetch_size(props: Mapping[str, Any]) -> int:
    raw = props.get("fetchSize", DEFAULT_FETCH_SIZE)
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise SqlError(f"fetchSize must be a number, got '{raw}'") from None
    return size if size > 0 else DEFAULT_FETCH_SIZE  # MySQL's Integer.MIN_VALUE: stream


def rows_of(cursor: Cursor, size: int, zone: dt.tzinfo | None,
            limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The result rows as JSON-safe mappings column label → value (labels as Kestra: the
    last of two equal labels wins)."""
    columns = [str(d[0]) for d in cursor.description or ()]
    seen = 0
    while limit is None or seen < limit:
        batch = cursor.fetchmany(size if limit is None else min(size, limit - seen))
        if not batch:
            return
        for row in batch:
            yield {column: json_safe(value, zone) for column, value in zip(columns, row, strict=False)}
        seen += len(batch)


def write_jsonl(rows: Iterator[dict[str, Any]] | Sequence[dict[str, Any]], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def statement_outputs(cursor: Cursor, kind: str, size: int, zone: dt.tzinfo | None,
                      store: Path) -> dict[str, Any]:
    """Outputs of one executed statement as Kestra names them: row (FETCH_ONE), rows
    (FETCH), uri (STORE: a JSON Lines file), size; a statement without a result set
    (INSERT, UPDATE, DDL) answers size = the rows it affected."""
    if cursor.description is None:
        return {"size": max(cursor.rowcount, 0)}
    if kind == "FETCH_ONE":
        first = next(rows_of(cursor, 1, zone, limit=1), None)
        return {"row": first, "size": 0 if first is None else 1}
    if kind == "FETCH":
        rows = list(rows_of(cursor, size, zone))
        return {"rows": rows, "size": len(rows)}
    if kind == "STORE":
        store.parent.mkdir(parents=True, exist_ok=True)
        return {"uri": str(store), "size": write_jsonl(rows_of(cursor, size, zone), store)}
    count = sum(1 for _ in rows_of(cursor, size, zone))
    return {"size": count}


# -- the Trigger's cursor --------------------------------------------------------------

POSITION_PARAM = "gitflows_position"


def position_sql(sql: str, column: str, quoted: str, after_position: bool, one: bool) -> str:
    """The trigger's query wrapped to return only rows past the last position, in order
    (`quoted` is column as an identifier of the dialect)."""
    inner = sql.strip().rstrip(";").rstrip()
    if not column:
        raise SqlError("positionColumn must name a column of the query's result")
    where = f" WHERE gitflows_q.{quoted} > :{POSITION_PARAM}" if after_position else ""
    limit = " LIMIT 1" if one else ""
    return f"SELECT * FROM (\n{inner}\n) AS gitflows_q{where} ORDER BY gitflows_q.{quoted}{limit}"


def rows_digest(rows: Sequence[Mapping[str, Any]]) -> str:
    """A digest of a result set that does not depend on the order of its rows."""
    lines = sorted(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class Firing:
    key: str | None  # None: nothing to fire, only the cursor moves
    cursor: Mapping[str, Any]


def next_firing(rows: Sequence[Mapping[str, Any]], cursor: Any, position_column: str | None) -> Firing | None:
    """What a poll that read rows fires, and the cursor to keep; None: nothing changes.

    With positionColumn the rows are those past the last position (position_sql); the
    cursor keeps the greatest position fired. Without it, a result set fires unless it
    is the one fired last (kept as a digest), and an empty result forgets that digest:
    the same rows coming back later fire again. Keys count firings, so they are stable
    when a poll is repeated after a crash and never equal to an earlier firing's."""
    saved: dict[str, Any] = dict(cursor) if isinstance(cursor, Mapping) else {}
    fired = int(saved.get("fired") or 0)
    if not rows:
        if not position_column and saved.get("digest"):
            return Firing(None, {**saved, "digest": None})
        return None
    digest = rows_digest(rows)
    if position_column:
        positions = [row[position_column] for row in rows if row.get(position_column) is not None]
        if position_column not in rows[0]:
            raise SqlError(f"positionColumn '{position_column}' is not a column of the result "
                           f"(columns: {', '.join(rows[0])})")
        if not positions:
            raise SqlError(f"positionColumn '{position_column}' is NULL in every new row")
        saved["position"] = positions[-1]
    elif saved.get("digest") == digest:
        return None
    else:
        saved["digest"] = digest
    saved["fired"] = fired + 1
    return Firing(f"{fired + 1}-{digest[:16]}", saved)
