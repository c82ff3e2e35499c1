"""The PostgreSQL and MariaDB servers of `scripts/setup test-env`, for the JDBC plugin tests:
`available` checks a server answers (and fails under CI=true when it does not) and direct access to
check what the flows did."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql

from tests.conftest import _missing

USER = PASSWORD = DATABASE = "gitflows"
# A second account whose password appears nowhere else, to see that it is masked.
MASKED_USER, MASKED_PASSWORD = "gf_plugin_masked", "Pl4gin-7c1e-S3cret"


@dataclass(frozen=True)
class Db:
    family: str  # the Kestra package: io.kestra.plugin.jdbc.<family>
    port: int

    @property
    def url(self) -> str:
        return f"jdbc:{self.family}://127.0.0.1:{self.port}/{DATABASE}"

    def plain_url(self, password: str, user: str = USER) -> str:
        return f"{self.family}://{user}:{password}@127.0.0.1:{self.port}/{DATABASE}"

    def type(self, name: str) -> str:
        return f"io.kestra.plugin.jdbc.{self.family}.{name}"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement with %s parameters, committed; its rows (if any)."""
        if self.family == "postgresql":
            with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                                 dbname=DATABASE, autocommit=True, connect_timeout=5) as conn:
                cursor = conn.execute(sql, params or None)
                return list(cursor.fetchall()) if cursor.description else []
        conn = pymysql.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                               database=DATABASE, autocommit=True, connect_timeout=5)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params or None)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()


BY_FAMILY = {"postgresql": Db("postgresql", 5432), "mysql": Db("mysql", 3306)}


def table_name() -> str:
    return f"gf_{uuid.uuid4().hex[:12]}"


@functools.cache
def available(family: str) -> Db:
    """The server of a family, checked once per test process (fails under CI=true when down)."""
    db = BY_FAMILY[family]
    try:
        db.execute("SELECT 1")
    except (psycopg.Error, pymysql.MySQLError) as err:
        _missing(f"{db.family} on 127.0.0.1:{db.port}", f"{err} (scripts/setup test-env starts it)")
    try:  # the masked account: may race with another test process creating it
        if db.family == "postgresql":
            db.execute(f"DO $$ BEGIN CREATE ROLE {MASKED_USER} LOGIN PASSWORD '{MASKED_PASSWORD}'; "
                       "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
        else:
            db.execute(f"CREATE USER IF NOT EXISTS '{MASKED_USER}'@'localhost' "
                       f"IDENTIFIED BY '{MASKED_PASSWORD}'")
    except (psycopg.Error, pymysql.MySQLError):
        db.execute("SELECT 1")  # still there: the other process made it
    return db
