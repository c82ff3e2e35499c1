"""Kestra's JDBC Query / Queries tasks on the real PostgreSQL and MariaDB servers, through
`flows run` as users run them: fetch types, parameters bound by the driver, the STORE
file, secrets never shown, and the install hint when the driver is missing."""

from __future__ import annotations

import base64
import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.integration.jdbc_servers import MASKED_PASSWORD, MASKED_USER, PASSWORD, Db, available, table_name
from tests.waiting import CEILING

Run = Callable[..., dict[str, Any]]



@pytest.fixture(params=["postgresql", "mysql"])
def db(request: pytest.FixtureRequest) -> Db:
    return available(str(request.param))


@pytest.fixture
def postgres() -> Db:
    return available("postgresql")

def _connection(db: Db) -> str:
    """The connection properties, indented for a task in the flows below."""
    return (f"url: {db.url}\n            username: gitflows\n"
            f"            password: \"{{{{ secret('DB_PASSWORD') }}}}\"")


@pytest.fixture
def run_flow(tmp_path: Path, write_flow: Callable[..., Path]) -> Run:
    """Run a flow with `flows run --json`; the execution, plus the CLI's output under '_out'."""

    def run(text: str, expect: str = "SUCCESS", password: str = PASSWORD) -> dict[str, Any]:
        path = write_flow(textwrap.dedent(text).lstrip("\n"))
        result = run_cli("run", str(path), "--executor", "process", "--json", env={
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "SECRET_DB_PASSWORD": base64.b64encode(password.encode()).decode()})
        assert result.stdout, result.stderr
        execution: dict[str, Any] = json.loads(result.stdout)
        assert execution["state"]["current"] == expect, result.stderr
        execution["_out"] = result.stdout + result.stderr
        execution["_data"] = str(tmp_path / "data")
        return execution

    return run


def outputs(execution: dict[str, Any], task_id: str) -> Any:
    return next(t for t in execution["taskRunList"] if t["taskId"] == task_id)["outputs"]


def test_query_outputs_follow_fetch_type(db: Db, run_flow: Run) -> None:
    table = table_name()
    blob = "BYTEA" if db.family == "postgresql" else "BLOB"
    execution = run_flow(f"""
        id: fetch_types
        namespace: demo
        tasks:
          - id: create
            type: {db.type("Queries")}
            {_connection(db)}
            sql: |
              CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2),
                                    born DATE, data {blob});
              -- a comment with a ; and :name in it
              INSERT INTO {table} VALUES (1, 'ada', 12.50, '1815-12-10', NULL);
              SELECT count(*) AS n FROM {table};
            fetchType: FETCH_ONE
          - id: insert
            type: {db.type("Query")}
            url: {db.plain_url("{{ secret('DB_PASSWORD') }}")}
            sql: INSERT INTO {table} (id, name, price) VALUES (2, :a, 3), (3, :b, 0.1)
            parameters: {{a: "grace", b: "linus"}}
          - id: all
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT id, name, price, born FROM {table} WHERE id >= :min ORDER BY id
            parameters: {{min: 1}}
            fetchType: FETCH
          - id: first
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT name FROM {table} ORDER BY id DESC
            fetchType: FETCH_ONE
          - id: none_found
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT name FROM {table} WHERE id > 100
            fetchType: FETCH_ONE
          - id: stored
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT id, name FROM {table} ORDER BY id
            fetchType: STORE
          - id: counted
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT id FROM {table}
          - id: show
            type: io.kestra.plugin.core.debug.Return
            format: "{{{{ outputs.all.rows[0].name }}}}/{{{{ outputs.first.row.name }}}}"
        """)
    assert outputs(execution, "create") == {"outputs": [{"row": {"n": 1}, "size": 1}]}
    assert outputs(execution, "insert") == {"size": 2}  # affected rows
    assert outputs(execution, "all") == {"size": 3, "rows": [
        {"id": 1, "name": "ada", "price": 12.5, "born": "1815-12-10"},
        {"id": 2, "name": "grace", "price": 3, "born": None},
        {"id": 3, "name": "linus", "price": 0.1, "born": None}]}
    assert outputs(execution, "first") == {"row": {"name": "linus"}, "size": 1}
    assert outputs(execution, "none_found") == {"row": None, "size": 0}
    stored = outputs(execution, "stored")
    assert stored["size"] == 3
    # the uri runs through $XDG_DATA_HOME/gitflows/, and "gitflows" is also the test database's
    # password: masked like any secret value in what `run --json` shows, so find the file
    assert stored["uri"].endswith("/stored.jsonl")
    kept = list(Path(execution["_data"]).rglob("stored.jsonl"))
    lines = kept[0].read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}, {"id": 3, "name": "linus"}]
    assert outputs(execution, "counted") == {"size": 3}  # fetchType NONE (Kestra's default)
    assert outputs(execution, "show") == {"value": "ada/linus"}


def test_values_become_json(db: Db, run_flow: Run) -> None:
    """Dates, times, exact decimals, bytes (base64) and NULL as JSON values."""
    table = table_name()
    stamp = "TIMESTAMPTZ" if db.family == "postgresql" else "DATETIME"
    blob = "BYTEA" if db.family == "postgresql" else "BLOB"
    db.execute(f"CREATE TABLE {table} (big DECIMAL(30,10), at {stamp}, t TIME, b {blob}, n INT)")
    db.execute(f"INSERT INTO {table} VALUES (%s, %s, '12:30:05', %s, NULL)",
               ["12345678901234567890.0000000001", "2024-02-29 10:00:00", b"\x00\xffgit"])
    execution = run_flow(f"""
        id: values
        namespace: demo
        tasks:
          - id: read
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT * FROM {table}
            fetchType: FETCH_ONE
        """)
    row = outputs(execution, "read")["row"]
    assert row["big"] == "12345678901234567890.0000000001"  # too precise for a float: text
    assert row["at"].startswith("2024-02-29T")
    assert row["t"] == "12:30:05" and row["n"] is None
    assert base64.b64decode(row["b"]) == b"\x00\xffgit"


def test_parameters_are_bound_by_the_driver_never_pasted(db: Db, run_flow: Run) -> None:
    table = table_name()
    db.execute(f"CREATE TABLE {table} (id INT, note VARCHAR(200))")
    attack = "x'); DROP TABLE " + table + "; -- :id %s %% \\' \""
    execution = run_flow(f"""
        id: injection
        namespace: demo
        tasks:
          - id: insert
            type: {db.type("Query")}
            {_connection(db)}
            sql: "INSERT INTO {table} (id, note) VALUES (:id, :note)"
            parameters:
              id: 7
              note: {json.dumps(attack)}
          - id: read
            type: {db.type("Query")}
            {_connection(db)}
            sql: "SELECT note, ':id inside quotes' AS text FROM {table} WHERE id = :id AND note = :note"
            parameters:
              id: 7
              note: {json.dumps(attack)}
            fetchType: FETCH
        """)
    assert outputs(execution, "read") == {"size": 1, "rows": [{"note": attack,
                                                              "text": ":id inside quotes"}]}
    assert db.execute(f"SELECT id, note FROM {table}") == [(7, attack)]  # the table is still there


def test_queries_run_in_one_transaction(db: Db, run_flow: Run) -> None:
    table = table_name()
    db.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    execution = run_flow(f"""
        id: rollback
        namespace: demo
        tasks:
          - id: both
            type: {db.type("Queries")}
            {_connection(db)}
            sql: |
              INSERT INTO {table} VALUES (1);
              INSERT INTO {table} VALUES (1);
        """, expect="FAILED")
    assert db.execute(f"SELECT id FROM {table}") == []  # the first insert was rolled back
    assert "uplicate" in execution["_out"]  # the database's own message


def test_query_takes_one_statement(postgres: Db, run_flow: Run) -> None:
    execution = run_flow(f"""
        id: several
        namespace: demo
        tasks:
          - id: two
            type: {postgres.type("Query")}
            {_connection(postgres)}
            sql: "SELECT 1; SELECT 'a;b'"
        """, expect="FAILED")
    assert "Query runs a single SQL statement, got 2" in execution["_out"]
    assert "io.kestra.plugin.jdbc.postgresql.Queries" in execution["_out"]


def test_a_wrong_password_is_reported_without_showing_it(db: Db, run_flow: Run) -> None:
    wrong = "Wr0ng-pa55word-xyz"
    execution = run_flow(f"""
        id: wrong_password
        namespace: demo
        tasks:
          - id: in_property
            type: {db.type("Query")}
            url: {db.url}
            username: gitflows
            password: {wrong}
            sql: SELECT 1 AS one
            allowFailure: true
          - id: in_url
            type: {db.type("Query")}
            url: {db.plain_url(wrong)}
            sql: SELECT 1 AS one
        """, expect="FAILED")
    out = execution["_out"]
    expected = ("password authentication failed" if db.family == "postgresql"
                else "Access denied for user 'gitflows'")
    assert out.count(expected) >= 2, out
    states = {t["taskId"]: t["state"]["current"] for t in execution["taskRunList"]}
    assert states == {"in_property": "WARNING", "in_url": "FAILED"} or states == {
        "in_property": "FAILED", "in_url": "FAILED"}
    assert wrong not in out.replace(f"password: {wrong}", "")  # only the flow's own text has it


def test_a_secret_password_is_masked_in_logs_and_outputs(db: Db, run_flow: Run) -> None:
    # the masked account may not use the gitflows database on MariaDB: a URL without one
    url = db.url if db.family == "postgresql" else db.url.removesuffix("gitflows")
    execution = run_flow(f"""
        id: masked
        namespace: demo
        tasks:
          - id: who
            type: {db.type("Query")}
            url: {url}
            username: {MASKED_USER}
            password: "{{{{ secret('DB_PASSWORD') }}}}"
            sql: SELECT current_user AS who
            fetchType: FETCH_ONE
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "url is {db.plain_url("{{ secret('DB_PASSWORD') }}", MASKED_USER)}"
        """, password=MASKED_PASSWORD)
    assert outputs(execution, "who")["row"]["who"].startswith(MASKED_USER)  # connected with it
    assert MASKED_PASSWORD not in execution["_out"]
    assert f"url is {db.family}://{MASKED_USER}:******@" in execution["_out"]


@pytest.mark.parametrize(("module", "extra", "type_name"), [
    ("psycopg", "postgres", "io.kestra.plugin.jdbc.postgresql.Query"),
    ("psycopg", "postgres", "gitflows.plugin.postgresql.Listen"),
    ("pymysql", "mysql", "io.kestra.plugin.jdbc.mysql.Trigger"),
])
def test_without_the_driver_validation_names_the_extra(
        tmp_path: Path, write_flow: Callable[..., Path], module: str, extra: str, type_name: str) -> None:
    """A stand-in package that fails to import as the missing driver does."""
    site = tmp_path / "site"
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{module}'\", name='{module}')\n")
    kind = "triggers" if type_name.endswith(("Trigger", "Listen")) else "tasks"
    flow = write_flow(f"id: q\nnamespace: demo\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
                      f"    message: hi\n{kind}:\n  - id: b\n    type: {type_name}\n"
                      f"    url: jdbc:x://h/db\n    sql: SELECT 1\n")
    if kind == "tasks":
        flow.write_text(flow.read_text().replace("  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
                                                 "    message: hi\ntasks:\n", ""))
    checked = run_cli("validate", str(flow), env={"PYTHONPATH": str(site)})
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert (f"{type_name} needs the {extra} plugin: pip install 'gitflows[{extra}]'"
            in checked.stdout + checked.stderr)


def test_a_timeout_cancels_the_statement_on_the_server(db: Db, run_flow: Run) -> None:
    sleep = "pg_sleep(600)" if db.family == "postgresql" else "SLEEP(600)"
    started = time.monotonic()
    execution = run_flow(f"""
        id: slow
        namespace: demo
        tasks:
          - id: sleep
            type: {db.type("Query")}
            {_connection(db)}
            sql: SELECT {sleep} AS slept
            timeout: PT1S
        """, expect="FAILED")
    assert time.monotonic() - started < CEILING  # not the statement's 600 s: it was cut off
    assert "timed out after PT1S" in execution["_out"]
    query = ("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%%'"
             if db.family == "postgresql" else
             "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(600)%%'")
    deadline = time.monotonic() + CEILING
    while db.execute(query)[0][0]:  # the server stops the statement, not only the client
        assert time.monotonic() < deadline
        time.sleep(0.1)
