"""PostgreSQL (`pip install 'gitflows[postgres]'`): Kestra's io.kestra.plugin.jdbc.postgresql
Query, Queries and Trigger through psycopg 3, plus a LISTEN/NOTIFY trigger of gitflows's
own, gitflows.plugin.postgresql.Listen. The one module importing psycopg.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql as pgsql

from runner.plugins.jdbc import SqlError, Syntax, Target
from runner.plugins.jdbc_types import Dialect, Masker, types
from runner.ports.polling import NOTHING, TRIGGER_PROPERTIES, Batch, TriggerContext, TriggerEvent
from runner.tasks.registry import TypeDef

CONNECT_TIMEOUT = 15
SSL_MODES = ("DISABLE", "ALLOW", "PREFER", "REQUIRE", "VERIFY_CA", "VERIFY_FULL")
_PEM_PROPS = {"sslRootCert": "sslrootcert", "sslCert": "sslcert", "sslKey": "sslkey"}
_URL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name")


def _ssl(props: Mapping[str, Any], options: Mapping[str, str], files: list[str]) -> dict[str, Any]:
    """libpq's ssl settings from Kestra's ssl / sslMode / PEM properties (PEM text goes to
    private temporary files, removed once connected)."""
    out: dict[str, Any] = {k: v for k, v in options.items() if k in _URL_OPTIONS}
    mode = props.get("sslMode")
    if mode:
        if str(mode).upper() not in SSL_MODES:
            raise SqlError(f"sslMode must be one of {', '.join(SSL_MODES)}, got '{mode}'")
        out["sslmode"] = str(mode).lower().replace("_", "-")
    elif props.get("ssl") in (True, "true"):
        out["sslmode"] = "require"
    for prop, key in _PEM_PROPS.items():
        if props.get(prop):
            handle, path = tempfile.mkstemp(prefix="gitflows-pg-", suffix=".pem")
            with os.fdopen(handle, "w") as pem:
                pem.write(str(props[prop]))
            files.append(path)
            out[key] = path
    if props.get("sslKeyPassword"):
        out["sslpassword"] = str(props["sslKeyPassword"])
    return out


def connect(target: Target, props: Mapping[str, Any], timeout: float | None) -> psycopg.Connection[Any]:
    files: list[str] = []
    try:
        kwargs: dict[str, Any] = {"host": target.host, "port": target.port, "autocommit": True,
                                  "connect_timeout": CONNECT_TIMEOUT, **_ssl(props, target.options, files)}
        for key, value in (("dbname", target.database), ("user", target.user),
                           ("password", target.password)):
            if value:
                kwargs[key] = value
        settings = []
        if timeout:
            settings.append(f"-c statement_timeout={int(timeout * 1000)}")
        schema = target.options.get("currentSchema")
        if schema:
            settings.append(f"-c search_path={schema}")
        if settings:
            kwargs["options"] = " ".join(settings)
        return psycopg.connect(**kwargs)
    finally:
        for path in files:
            os.unlink(path)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cancel(conn: Any) -> None:
    conn.cancel_safe(timeout=5)


_SSL_PROPERTIES: Mapping[str, Any] = {
    "ssl": {"type": "boolean"}, "sslMode": {"type": "string", "enum": list(SSL_MODES)},
    "sslRootCert": {"type": "string", "description": "PEM text"},
    "sslCert": {"type": "string", "description": "PEM text"},
    "sslKey": {"type": "string", "description": "PEM text"}, "sslKeyPassword": {"type": "string"},
}

DIALECT = Dialect(
    family="postgresql", title="PostgreSQL", schemes=("postgresql", "postgres"), default_port=5432,
    syntax=Syntax(dollar_quotes=True), connect=connect, errors=(psycopg.Error,), quote=_quote,
    cancel=_cancel, properties=_SSL_PROPERTIES)


# -- LISTEN / NOTIFY --------------------------------------------------------------------

IDLE_SECONDS = 600.0  # a listener nobody polled for this long belongs to a removed trigger


@dataclass
class _Listener:
    conn: psycopg.Connection[Any]
    identity: tuple[Any, ...]
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    seq: int = 0
    pending: list[TriggerEvent] = field(default_factory=list)  # handed out, not yet committed
    polled: float = field(default_factory=time.monotonic)


# One LISTEN connection per trigger (keyed by its work_dir), kept open between polls:
# notifications wait in the connection until the next poll drains them.
_LISTENERS: dict[str, _Listener] = {}
_LOCK = threading.Lock()


def _close(listener: _Listener) -> None:
    with suppress(psycopg.Error):
        listener.conn.close()


def _listener(ctx: TriggerContext, target: Target, channel: str) -> _Listener:
    key = str(ctx.work_dir)
    identity = (target.host, target.port, target.database, target.user, target.password, channel)
    now = time.monotonic()
    with _LOCK:
        for name, idle in list(_LISTENERS.items()):
            if name != key and now - idle.polled > IDLE_SECONDS:
                _close(_LISTENERS.pop(name))
        found = _LISTENERS.get(key)
        if found is not None and found.identity != identity:
            _close(_LISTENERS.pop(key))
            found = None
    if found is None:
        conn = connect(target, ctx.props, None)
        conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
        found = _Listener(conn, identity)
        ctx.log("INFO", f"listening on channel '{channel}'")
        with _LOCK:
            _LISTENERS[key] = found
    found.polled = now
    return found


def _drop(ctx: TriggerContext) -> None:
    with _LOCK:
        found = _LISTENERS.pop(str(ctx.work_dir), None)
    if found is not None:
        _close(found)


def poll_listen(ctx: TriggerContext) -> Batch:
    """One run per notification since the last poll, with trigger.channel / payload / pid."""
    mask = Masker(ctx.props)
    channel = str(ctx.props.get("channel") or "")
    try:
        if not channel:
            raise SqlError("channel is required")
        target = DIALECT.target(ctx.props)
        mask.add(target)
        listener = _listener(ctx, target, channel)
        events, listener.pending = listener.pending, []
        for note in listener.conn.notifies(timeout=0):
            listener.seq += 1
            events.append(TriggerEvent(f"{listener.session}-{listener.seq}", {
                "channel": note.channel, "payload": note.payload, "pid": note.pid}))
    except psycopg.Error as err:  # the connection broke: listen again on the next poll
        _drop(ctx)
        raise RuntimeError(ctx.mask(mask(f"PostgreSQL: {str(err).strip()}"))) from None
    except SqlError as err:
        raise RuntimeError(ctx.mask(mask(str(err)))) from None
    if not events:
        return NOTHING
    return Batch(events, finish=_requeue(listener, events))


def _requeue(listener: _Listener, events: list[TriggerEvent]) -> Callable[[bool], None]:
    def finish(committed: bool) -> None:
        if not committed:  # not queued: hand them out again, with the same keys
            listener.pending[:0] = events
    return finish


LISTEN = TypeDef(
    name="gitflows.plugin.postgresql.Listen", kind="trigger",
    title="Start one run per PostgreSQL NOTIFY on a channel (gitflows extension; notifications "
          "sent while the server is down are lost)",
    properties={"url": {"type": "string"}, "username": {"type": "string"},
                "password": {"type": "string"}, "channel": {"type": "string"},
                **_SSL_PROPERTIES, **TRIGGER_PROPERTIES},
    required=("url", "channel"), poll=poll_listen)

TYPES: tuple[TypeDef, ...] = (*types(DIALECT), LISTEN)
