"""Kestra's JDBC task and trigger types (Query, Queries, Trigger) for any database whose
driver module describes itself as a Dialect: how to connect, its errors, how to cancel.

No database library is imported here; runner/plugins/postgres.py and mysql.py pass
their driver in through the Dialect.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.events import State
from runner.model import Task
from runner.plugins.jdbc import (
    FETCH_TYPES,
    POSITION_PARAM,
    SqlError,
    Syntax,
    Target,
    bind,
    fetch_size,
    fetch_type,
    next_firing,
    parse_url,
    position_sql,
    rows_of,
    split_statements,
    statement_outputs,
    write_jsonl,
    zone_of,
)
from runner.ports.polling import (
    MAX_POLL_SECONDS,
    NOTHING,
    TRIGGER_PROPERTIES,
    Batch,
    TriggerContext,
    TriggerEvent,
)
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.secrets import hide_credentials, masked
from runner.tasks.registry import TypeDef

STORE_DAYS = 7  # how long a Trigger's STORE files (trigger.uri) are kept
Connect = Callable[[Target, Mapping[str, Any], float | None], Any]


@dataclass(frozen=True)
class Dialect:
    family: str  # the Kestra package: io.kestra.plugin.jdbc.<family>.Query
    title: str
    schemes: tuple[str, ...]  # accepted URL schemes, the first one shown in errors
    default_port: int
    syntax: Syntax
    connect: Connect  # (target, rendered props, statement timeout s) → DB-API connection, autocommit
    errors: tuple[type[Exception], ...]  # the driver's errors, reported as failed tasks
    quote: Callable[[str], str]  # an identifier, quoted
    cancel: Callable[[Any], None]  # stop the connection's running statement (from another thread)
    properties: Mapping[str, Any] = field(default_factory=dict)  # the dialect's own properties

    def target(self, props: Mapping[str, Any]) -> Target:
        if not props.get("url"):
            raise SqlError("url is required")
        found = parse_url(str(props["url"]), self.schemes, self.default_port)
        user = props.get("username")
        password = props.get("password")
        return Target(found.host, found.port, found.database,
                      str(user) if user not in (None, "") else found.user,
                      str(password) if password not in (None, "") else found.password,
                      found.options)


class Masker:
    """Hides the password (from the url or the property) and URL passwords in messages."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.secrets: list[str] = [str(props["password"])] if props.get("password") else []

    def add(self, target: Target) -> None:
        if target.password:
            self.secrets.append(target.password)

    def __call__(self, text: str) -> str:
        return hide_credentials(masked(text, self.secrets))


@contextmanager
def _cancel_on(event: threading.Event, cancel: Callable[[], None]) -> Iterator[None]:
    """Cancel the running statement when the task is killed or times out."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if event.wait(0.2):
                with suppress(Exception):  # the statement may have ended meanwhile
                    cancel()
                return

    watcher = threading.Thread(target=watch, name="gitflows-sql-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()


def _timeout(ctx: TaskContext) -> float | None:
    remaining = ctx.remaining()
    return max(remaining.total_seconds(), 1.0) if remaining is not None else None


def _run_task(dialect: Dialect, task: Task, ctx: TaskContext, many: bool) -> Outcome:
    props = ctx.render(dict(task.props))
    mask = Masker(props)
    try:
        target = dialect.target(props)
        mask.add(target)
        outputs = _execute(dialect, task, ctx, props, target, many)
    except SqlError as err:
        raise TaskFailed(mask(str(err))) from None
    except dialect.errors as err:
        raise TaskFailed(mask(f"{dialect.title}: {str(err).strip()}")) from None
    return Outcome(State.SUCCESS, outputs)


def _execute(dialect: Dialect, task: Task, ctx: TaskContext, props: Mapping[str, Any],
             target: Target, many: bool) -> dict[str, Any]:
    kind, size, zone = fetch_type(props), fetch_size(props), zone_of(props.get("timeZoneId"))
    parameters = props.get("parameters") or None
    if parameters is not None and not isinstance(parameters, Mapping):
        raise SqlError("parameters must be a map of names to values (used as :name in sql)")
    statements = split_statements(str(props.get("sql") or ""), dialect.syntax)
    if not statements:
        raise SqlError("sql is empty")
    if not many and len(statements) > 1:
        raise SqlError(f"Query runs a single SQL statement, got {len(statements)}; use "
                       f"io.kestra.plugin.jdbc.{dialect.family}.Queries for several")
    after = str(props.get("afterSQL") or "").strip()
    transaction = (many and props.get("transaction", True) not in (False, "false")) or bool(after)
    results: list[dict[str, Any]] = []
    returned = False
    conn = dialect.connect(target, props, _timeout(ctx))
    with closing(conn), _cancel_on(ctx.cancel, lambda: dialect.cancel(conn)):
        cursor = conn.cursor()
        if transaction:
            cursor.execute("BEGIN")  # both databases; closing without COMMIT rolls back
        for index, statement in enumerate(statements):
            cursor.execute(*bind(statement, parameters, dialect.syntax))
            store = ctx.workdir / f".gitflows-sql/{task.id}-{ctx.task_run_id}-{index}.jsonl"
            out = statement_outputs(cursor, kind, size, zone, store)
            returned = cursor.description is not None
            if "uri" in out:
                out["uri"] = str(ctx.keep_artifact(store, f"{task.id}-{index}.jsonl" if many
                                                   else f"{task.id}.jsonl"))
            if not many or returned:
                results.append(out)
        if after:
            cursor.execute(*bind(after, parameters, dialect.syntax))
        if transaction:
            cursor.execute("COMMIT")
    if many:
        return {"outputs": results}
    [result] = results
    ctx.log("INFO", f"{result.get('size', 0)} row(s) {'returned' if returned else 'affected'}")
    return result


def handled(dialect: Dialect) -> tuple[type[Exception], ...]:
    """The errors reported by message alone: the task's own and the database's."""
    return (SqlError, *dialect.errors)


def _poll(dialect: Dialect, ctx: TriggerContext) -> Batch:
    props = ctx.props
    mask = Masker(props)
    try:
        target = dialect.target(props)
        mask.add(target)
        return _poll_once(dialect, ctx, props, target)
    except handled(dialect) as err:
        raise RuntimeError(ctx.mask(mask(str(err).strip()))) from None


def _poll_once(dialect: Dialect, ctx: TriggerContext, props: Mapping[str, Any],
               target: Target) -> Batch:
    kind, size, zone = fetch_type(props), fetch_size(props), zone_of(props.get("timeZoneId"))
    column = str(props.get("positionColumn") or "") or None
    cursor = ctx.cursor if isinstance(ctx.cursor, Mapping) else {}
    sql = str(props.get("sql") or "")
    parameters = dict(props.get("parameters") or {})
    if column is not None:
        after = cursor.get("position") is not None
        sql = position_sql(sql, column, dialect.quote(column), after, kind == "FETCH_ONE")
        if after:
            parameters[POSITION_PARAM] = cursor["position"]
    conn = dialect.connect(target, props, MAX_POLL_SECONDS)
    with closing(conn):
        db = conn.cursor()
        db.execute(*bind(sql, parameters, dialect.syntax))
        limit = 1 if kind == "FETCH_ONE" else None
        rows = list(rows_of(db, size, zone, limit)) if db.description is not None else []
    firing = next_firing(rows, cursor, column)
    if firing is None:
        return NOTHING
    if firing.key is None:
        return Batch(cursor=dict(firing.cursor))
    variables: dict[str, Any] = {"size": len(rows)}
    if kind == "FETCH":
        variables["rows"] = rows
    elif kind == "FETCH_ONE":
        variables["row"] = rows[0]
    elif kind == "STORE":
        _prune(ctx.work_dir)
        path = ctx.work_dir / f"rows-{firing.key}.jsonl"
        write_jsonl(rows, path)
        variables["uri"] = str(path)
    ctx.log("INFO", f"{len(rows)} row(s) → one run")
    return Batch([TriggerEvent(firing.key, variables)], dict(firing.cursor))


def _prune(work_dir: Path) -> None:
    """Forget STORE files of old polls: their runs have long read them."""
    expired = time.time() - STORE_DAYS * 86400
    for old in work_dir.glob("rows-*.jsonl"):
        with suppress(OSError):
            if old.stat().st_mtime < expired:
                old.unlink()


_COMMON: Mapping[str, Any] = {
    "url": {"type": "string", "description": "jdbc:<db>://host:port/database or <db>://…"},
    "username": {"type": "string"},
    "password": {"type": "string", "description": "use {{ secret('NAME') }}"},
    "sql": {"type": "string"},
    "parameters": {"type": ["object", "string"],
                   "description": "values bound to :name placeholders in sql by the driver"},
    "fetchType": {"type": "string", "enum": list(FETCH_TYPES), "default": "NONE"},
    "fetchSize": {"type": ["integer", "string"], "default": 10000},
    "timeZoneId": {"type": "string"},
    "fetch": {"type": "boolean", "deprecated": True, "description": "use fetchType: FETCH"},
    "fetchOne": {"type": "boolean", "deprecated": True, "description": "use fetchType: FETCH_ONE"},
    "store": {"type": "boolean", "deprecated": True, "description": "use fetchType: STORE"},
}
_TASK_ONLY: Mapping[str, Any] = {
    "afterSQL": {"type": "string", "description": "run after sql, in the same transaction"},
    "autoCommit": {"type": "boolean"},
}


def types(dialect: Dialect) -> tuple[TypeDef, ...]:
    """Query, Queries and Trigger of io.kestra.plugin.jdbc.<family>."""
    prefix = f"io.kestra.plugin.jdbc.{dialect.family}."
    task_props = {**_COMMON, **_TASK_ONLY, **dialect.properties}
    trigger_props = {**_COMMON, **dialect.properties, **TRIGGER_PROPERTIES, "positionColumn": {
        "type": "string", "description": "gitflows extension: a column that grows with every new "
        "row; fire only for rows past the last one fired"}}

    def run_query(task: Task, ctx: TaskContext) -> Outcome:
        return _run_task(dialect, task, ctx, many=False)

    def run_queries(task: Task, ctx: TaskContext) -> Outcome:
        return _run_task(dialect, task, ctx, many=True)

    def poll(ctx: TriggerContext) -> Batch:
        return _poll(dialect, ctx)

    return (
        TypeDef(name=prefix + "Query", kind="task", title=f"Run one SQL statement on {dialect.title}; "
                "outputs row / rows / uri and size", properties=task_props,
                required=("url", "sql"), run=run_query),
        TypeDef(name=prefix + "Queries", kind="task", title=f"Run several SQL statements on "
                f"{dialect.title} in one transaction; outputs one entry per result set",
                properties={**task_props, "transaction": {"type": "boolean", "default": True}},
                required=("url", "sql"), run=run_queries),
        TypeDef(name=prefix + "Trigger", kind="trigger", title=f"Poll a {dialect.title} query; one "
                "run per poll that returns new rows", properties=trigger_props,
                required=("url", "sql"), poll=poll),
    )
