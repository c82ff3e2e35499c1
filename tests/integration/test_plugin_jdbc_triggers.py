"""The JDBC triggers through a real `flows serve`, killed with SIGKILL and restarted in
between: new rows start exactly one run each poll, never again after the restart, and
rows added while the server was down start a run once it is back. The LISTEN trigger:
one run per notification, none twice across a restart."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, free_port
from tests.integration.jdbc_servers import PASSWORD, Db, available, table_name
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call
from tests.waiting import CEILING

DONE = ("SUCCESS", "FAILED", "WARNING", "KILLED")



@pytest.fixture(params=["postgresql", "mysql"])
def db(request: pytest.FixtureRequest) -> Db:
    return available(str(request.param))


@pytest.fixture
def postgres() -> Db:
    return available("postgresql")

class Served:
    """A repository with one flow, served by `flows serve` (restartable on the same data)."""

    def __init__(self, tmp_path: Path, flow: str) -> None:
        self.tmp = tmp_path
        self.repo = tmp_path / "repo"
        self.repo.mkdir()
        git(self.repo, "init", "-q", "-b", "main")
        commit(self.repo, ".flows/watch.yml", flow, "flow")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.server: Server | None = None
        self.earlier: list[dict[str, Any]] = []  # the runs of the servers killed before

    def start(self) -> Path:
        self.starts += 1
        log = self.tmp / f"serve-{self.starts}.log"
        self.server = Server(["--repo", f"demo={self.repo}", "--data", str(self.tmp / "data"),
                              "--executor", "process"], port=self.port, log=log,
                             env={"SECRET_DB_PASSWORD": base64.b64encode(PASSWORD.encode()).decode()})
        return log

    def kill(self) -> None:
        """SIGKILL, once the server has recorded its runs as done: what a crash does to a
        run in flight is test_crash_recovery's business; here it is the trigger's cursor."""
        assert self.server is not None
        deadline = time.monotonic() + CEILING
        while True:
            with sqlite3.connect(self.tmp / "data" / "runs.sqlite3") as queue:
                busy = queue.execute("SELECT count(*) FROM runs WHERE status != 'done'").fetchone()[0]
            if busy == 0:
                break
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.05)
        self.earlier = self.runs()
        os.kill(self.server.proc.pid, signal.SIGKILL)
        self.server.proc.wait(10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def runs(self) -> list[dict[str, Any]]:
        """The executions, oldest first, the killed servers' ones included."""
        status, body = call(self.base, "GET", "/api/v1/executions")
        assert status == 200, body
        known = {run["id"] for run in self.earlier}
        return self.earlier + [run for run in reversed(body) if run["id"] not in known]

    def wait_runs(self, count: int, timeout: float = CEILING) -> list[dict[str, Any]]:
        """Wait until `count` executions have ended (and no more exist than that)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            assert len(runs) <= count, [r["trigger"] for r in runs]
            if len(runs) == count and all(r["state"]["current"] in DONE for r in runs):
                return runs
            assert time.monotonic() < deadline, (runs, self.logs())
            time.sleep(0.1)

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp.glob("serve-*.log")))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], Served]]:
    made: list[Served] = []

    def make(flow: str) -> Served:
        made.append(Served(tmp_path, flow))
        return made[-1]

    yield make
    for served in made:
        served.stop()


def _flow(db: Db, table: str, extra: str) -> str:
    return f"""\
id: watch
namespace: demo
triggers:
  - id: rows
    type: {db.type("Trigger")}
    interval: PT0.3S
    url: {db.url}
    username: gitflows
    password: "{{{{ secret('DB_PASSWORD') }}}}"
    sql: SELECT id, name FROM {table}
    fetchType: FETCH
{extra}
tasks:
  - id: seen
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.size }}}} from {{{{ trigger.rows[0].name }}}}"
  - id: trigger
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger | toJson }}}}"
"""


def _output(run: dict[str, Any], task_id: str) -> str:
    value: str = next(t for t in run["taskRunList"] if t["taskId"] == task_id)["outputs"]["value"]
    return value


def _names(run: dict[str, Any], trigger_id: str = "rows") -> list[str]:
    """The names in the rows the run's trigger.rows carried (checked against trigger.size)."""
    trigger = json.loads(_output(run, "trigger"))
    assert trigger["type"] == "event" and trigger["id"] == trigger_id
    assert trigger["source"].endswith(".Trigger")
    names = [row["name"] for row in trigger["rows"]]
    assert _output(run, "seen") == f"{len(names)} from {names[0]}" and trigger["size"] == len(names)
    return names


def test_position_trigger_fires_new_rows_once_across_kill_9(db: Db, serve: Callable[[str], Served]) -> None:
    table = table_name()
    db.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20))")
    db.execute(f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")
    served = serve(_flow(db, table, "    positionColumn: id"))
    served.start()
    assert [_names(r) for r in served.wait_runs(1)] == [["a", "b"]]
    db.execute(f"INSERT INTO {table} VALUES (3, 'c')")
    assert [_names(r) for r in served.wait_runs(2)][1] == ["c"]

    served.kill()
    db.execute(f"INSERT INTO {table} VALUES (4, 'd'), (5, 'e')")  # while nobody watches
    served.start()
    assert [_names(r) for r in served.wait_runs(3)][2] == ["d", "e"]
    db.execute(f"INSERT INTO {table} VALUES (6, 'f')")
    runs = served.wait_runs(4)
    assert [_names(r) for r in runs] == [["a", "b"], ["c"], ["d", "e"], ["f"]]


def test_digest_trigger_fires_when_the_result_changes_not_on_restart(
        db: Db, serve: Callable[[str], Served]) -> None:
    """Without positionColumn: Kestra's semantics (a run when the query returns rows), but
    the same result set never starts a second run, across a restart too. A second trigger
    on a marker table shows when the restarted server has polled."""
    table, markers = table_name(), table_name()
    for name in (table, markers):
        db.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(20))")
    db.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    marker = _flow(db, markers, "    positionColumn: id").split("triggers:\n", 1)[1].split("tasks:")[0]
    served = serve(_flow(db, table, marker.replace("id: rows", "id: marker")))
    served.start()
    assert [_names(r) for r in served.wait_runs(1)] == [["a"]]
    db.execute(f"INSERT INTO {table} VALUES (2, 'b')")
    assert sorted(_names(served.wait_runs(2)[1])) == ["a", "b"]

    served.kill()
    served.start()
    for count, name in ((3, "m1"), (4, "m2")):  # two marker runs: [a, b] was polled meanwhile
        db.execute(f"INSERT INTO {markers} VALUES ({count}, '{name}')")
        assert _names(served.wait_runs(count)[-1], "marker") == [name]
    db.execute(f"INSERT INTO {table} VALUES (3, 'c')")
    runs = served.wait_runs(5)
    assert [sorted(_names(r, "rows" if i not in (2, 3) else "marker")) for i, r in enumerate(runs)] == [
        ["a"], ["a", "b"], ["m1"], ["m2"], ["a", "b", "c"]]


def test_listen_starts_one_run_per_notification_and_none_twice_across_kill_9(
        postgres: Db, serve: Callable[[str], Served]) -> None:
    channel = table_name()
    served = serve(f"""\
id: watch
namespace: demo
triggers:
  - id: rows
    type: gitflows.plugin.postgresql.Listen
    interval: PT0.2S
    url: {postgres.url}
    username: gitflows
    password: "{{{{ secret('DB_PASSWORD') }}}}"
    channel: {channel}
tasks:
  - id: seen
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.channel }}}}:{{{{ trigger.payload }}}}"
  - id: trigger
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger | toJson }}}}"
""")

    def listening(before: frozenset[int] = frozenset()) -> frozenset[int]:
        """The server's LISTEN sessions, once there is one not among those before."""
        deadline = time.monotonic() + CEILING
        while True:
            pids = frozenset(pid for (pid,) in postgres.execute(
                "SELECT pid FROM pg_stat_activity WHERE query = %s", [f'LISTEN "{channel}"']))
            if pids - before:
                return pids
            assert time.monotonic() < deadline, served.logs()
            time.sleep(0.1)

    def payloads(runs: list[dict[str, Any]]) -> list[str]:
        triggers = [json.loads(_output(r, "trigger")) for r in runs]
        assert all(isinstance(t["pid"], int) and t["channel"] == channel for t in triggers)
        assert [_output(r, "seen") for r in runs] == [f"{channel}:{t['payload']}" for t in triggers]
        return [t["payload"] for t in triggers]

    served.start()
    first = listening()
    postgres.execute(f"NOTIFY {channel}, 'one'")
    postgres.execute(f"SELECT pg_notify('{channel}', 'two {{\"n\": 2}}')")
    assert payloads(served.wait_runs(2)) == ["one", 'two {"n": 2}']

    served.kill()
    postgres.execute(f"NOTIFY {channel}, 'lost'")  # nobody listens: PostgreSQL drops it
    served.start()
    listening(first)
    postgres.execute(f"NOTIFY {channel}, 'three'")
    assert payloads(served.wait_runs(3)) == ["one", 'two {"n": 2}', "three"]
