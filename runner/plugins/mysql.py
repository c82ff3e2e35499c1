"""MySQL and MariaDB (`pip install 'gitflows[mysql]'`): Kestra's io.kestra.plugin.jdbc.mysql
Query, Queries and Trigger through PyMySQL. The one module importing pymysql.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pymysql

from runner.plugins.jdbc import Syntax, Target
from runner.plugins.jdbc_types import Dialect, types
from runner.tasks.registry import TypeDef

CONNECT_TIMEOUT = 15
# The task's timeout stops a statement on the server (KILL QUERY when the task is cancelled);
# the socket's own timeout is only a backstop after it: were it first, the client would give up
# and leave the statement running on the server.
BACKSTOP_SECONDS = 10.0
# TIME is a duration in MySQL (-838:59:59 … 838:59:59): keep the server's text, as Kestra does.
_CONVERSIONS = {**pymysql.converters.conversions, pymysql.constants.FIELD_TYPE.TIME: str}


def connect(target: Target, props: Mapping[str, Any], timeout: float | None) -> Any:
    ssl: dict[str, Any] | None = None
    if str(target.options.get("useSSL", target.options.get("sslMode", ""))).lower() in (
            "true", "required", "verify_ca", "verify_identity"):
        ssl = {}  # TLS with the system's trust store
    backstop = None if timeout is None else timeout + BACKSTOP_SECONDS
    return pymysql.connect(
        host=target.host, port=target.port, user=target.user, password=target.password or "",
        database=target.database, autocommit=True, charset="utf8mb4", ssl=ssl, conv=_CONVERSIONS,
        connect_timeout=CONNECT_TIMEOUT, read_timeout=backstop, write_timeout=backstop)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _cancel(conn: Any) -> None:
    """KILL QUERY from a second connection: MySQL has no in-band cancel."""
    thread_id = conn.thread_id()
    host, port = conn.host, conn.port
    other = pymysql.connect(host=host, port=port, user=conn.user, password=conn.password,
                            connect_timeout=5, autocommit=True)
    try:
        with other.cursor() as cursor:
            cursor.execute("KILL QUERY %s", (int(thread_id),))
    finally:
        other.close()


DIALECT = Dialect(
    family="mysql", title="MySQL", schemes=("mysql", "mariadb"), default_port=3306,
    syntax=Syntax(backslash_escapes=True, hash_comments=True, quote_chars="'\"`"),
    connect=connect, errors=(pymysql.MySQLError,), quote=_quote, cancel=_cancel)

TYPES: tuple[TypeDef, ...] = types(DIALECT)
