"""Scale-out with real processes: a real redis-server (started here, on a free port),
`flows serve --broker` and `flows worker` processes, a real git repository.

- 2 workers + 1 server, 200 runs, one worker killed with SIGKILL mid-way: every run
  finishes exactly once, under the execution id the API handed out; each take-over is
  RESTARTED in the history.
- 2 server replicas get the same webhook deliveries and fire the same cron ticks: each
  run happens once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runner.history.notes import NotesStore
from tests.conftest import FLOWS, Server, _missing, free_port, run_cli
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING

TICK = """\
id: tick
namespace: demo
inputs:
  - id: n
    type: STRING
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.5S
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "run {{ inputs.n }}"
"""

BUILD = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
tasks:
  - id: which
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.sha }}"
"""

CRON = """\
id: every_second
namespace: demo
triggers:
  - id: each
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
tasks:
  - id: hi
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
"""

SLOW = """\
id: slow
namespace: demo
workerGroup:
  key: gpu
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT30S
"""


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own (no persistence), its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server", "install the Debian package redis-server")
    assert binary is not None
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + CEILING
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                         text=True).stdout.strip() != "PONG":
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The module's redis-server, emptied for this test."""
    from webhooks.scale.redisio import connect

    connect(redis_server).flushdb()
    return redis_server


class Worker:
    """A real `flows worker` process."""

    def __init__(self, url: str, data: Path, *, concurrency: int = 4, queues: str = "default",
                 grace: float = 5) -> None:
        self.log = data.with_suffix(".log")
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [*FLOWS, "worker", "--broker", url, "--data", str(data), "--executor", "process",
                 "--concurrency", str(concurrency), "--queues", queues, "--heartbeat-timeout", "3",
                 "--grace", str(grace)], stdout=out, stderr=out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for path, text in files.items():
        commit(repo, path, text, f"add {path}")
    return repo


def _until(what: str, check: Callable[[], Any], timeout: float = CEILING) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _ledger(url: str) -> dict[str, dict[str, str]]:
    from webhooks.scale.redisio import Ledger, connect

    return Ledger(connect(url)).all()


def _history(repo: Path) -> list[dict[str, Any]]:
    done = run_cli("history", "--json", "--limit", "5000", cwd=repo)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _workers(url: str) -> list[dict[str, Any]]:
    done = run_cli("workers", "--broker", url, "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_200_runs_each_exactly_once_when_a_worker_is_killed(tmp_path: Path, redis_url: str) -> None:
    repo = _repo(tmp_path, {".flows/tick.yml": TICK})
    server = Server(["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor", "process"],
                    cwd=repo, log=tmp_path / "serve.log")
    doomed = Worker(redis_url, tmp_path / "w1")
    survivor = Worker(redis_url, tmp_path / "w2")
    try:
        _until("two live workers", lambda: len([w for w in _workers(redis_url) if w["alive"]]) == 2)

        def start(n: int) -> str:
            status, body = call(server.base, "POST", "/api/v1/executions/demo/tick", {"n": str(n)})
            assert status == 200, body
            return str(body["id"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(start, range(200)))

        def doomed_is_busy() -> bool:
            ledger = _ledger(redis_url).values()
            done = sum(1 for v in ledger if v.get("state") == "done")
            mine = [v for v in ledger if v.get("state") == "running"
                    and v.get("owner", "").split(":")[1:2] == [str(doomed.proc.pid)]]
            return done >= 40 and len(mine) >= 2

        _until("the first worker running runs, 40 done", doomed_is_busy)
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)

        def all_done() -> dict[str, dict[str, str]]:
            ledger = _ledger(redis_url)
            finished = [v for v in ledger.values() if v.get("state") == "done"]
            return ledger if len(finished) == 200 else {}

        ledger = _until("all 200 runs done", all_done, timeout=120)
        assert set(ledger) == {f"api:{i}" for i in ids}
        assert {v["result"] for v in ledger.values()} == {"SUCCESS"}
        retried = {k for k, v in ledger.items() if int(v["attempts"]) > 1}
        assert retried, "the killed worker was running runs: they were delivered again"

        rows = _history(repo)
        succeeded = [r["run"] for r in rows if r["state"] == "SUCCESS"]
        assert len(succeeded) == 200 == len(set(succeeded)), "each run succeeded exactly once"
        # a re-delivered run went on under the execution id the API handed out
        assert set(succeeded) == {v["execution"] for v in ledger.values()} == set(ids)
        assert {r["state"] for r in rows} == {"SUCCESS"}

        # the server saw it all through the relayed events: every id it handed out SUCCESS
        def server_settled() -> list[dict[str, Any]]:
            seen = call(server.base, "GET", "/api/v1/executions?size=1000")[1]
            states = [e["state"]["current"] for e in seen]
            return seen if states.count("SUCCESS") == 200 else []

        seen = _until("the server's view of the runs", server_settled)
        assert {e["id"] for e in seen} == set(ids)
        store = NotesStore(repo)
        taken = [store.run(key.removeprefix("api:")) for key in retried]
        # a take-over of an attempt that had begun is in the history, below the final state
        assert any("RESTARTED" in [e.state for e in events] for events in taken)
        assert {max(events, key=lambda e: e.seq).state for events in taken} == {"SUCCESS"}
        logs = call(server.base, "GET", f"/api/v1/logs/{ids[-1]}")[1]
        assert any(line["message"] == "run 199" for line in logs), logs

        listed = {w["pid"]: w for w in _workers(redis_url)}
        assert listed[survivor.proc.pid]["alive"] and not listed[doomed.proc.pid]["alive"]
        text = run_cli("workers", "--broker", redis_url).stdout
        assert "dead" in text and "alive" in text
        metrics = call_text(server.base + "/metrics")
        assert 'gitflows_runs{state="SUCCESS"} 200.0' in metrics
        assert "gitflows_run_duration_seconds_count" in metrics
        assert 'gitflows_queue_depth{queue="default"} 0.0' in metrics
    finally:
        for process in (doomed, survivor):
            process.stop()
        server.stop()


def call_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_server_replicas_run_each_delivery_and_tick_once(
        tmp_path: Path, redis_url: str,
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = _repo(tmp_path, {".flows/build.yml": BUILD, ".flows/cron.yml": CRON})
    first = git(repo, "rev-parse", "HEAD~1")
    second = git(repo, "rev-parse", "HEAD")
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n    provider: github\n"
                      "    webhook_secret_env: HELLO_SECRET\n    superseded: run\n")  # both pushes run
    replicas = [Server(["--config", str(config), "--broker", redis_url, "--data", str(tmp_path / f"r{n}"),
                        "--executor", "process"], log=tmp_path / f"r{n}.log",
                       env={"HELLO_SECRET": SECRET}) for n in (1, 2)]
    worker = Worker(redis_url, tmp_path / "w")
    try:
        payload = push_payload(octokit_examples, first, second, "change")
        for delivery in ("delivery-one", "delivery-two"):
            for replica in replicas:  # the load balancer's retry reached the other replica too
                assert deliver(replica.base, payload, delivery=delivery)[0] == 202
        _until("both replicas firing the same ticks", lambda: len(
            _fired(tmp_path / "r1" / "schedule.sqlite3") & _fired(tmp_path / "r2" / "schedule.sqlite3")) >= 3)
    finally:
        for replica in replicas:
            replica.stop()

    def settled() -> dict[str, dict[str, str]]:
        ledger = _ledger(redis_url)
        return ledger if all(v.get("state") == "done" for v in ledger.values()) else {}

    try:
        ledger = _until("every queued run done", settled)
    finally:
        worker.stop()
    ticks = {k for k in ledger if k.startswith("schedule:")}
    pushes = {k for k in ledger if k.startswith("github:")}
    assert len(pushes) == 2 and len(ticks) >= 4
    odd = {k: v for k, v in ledger.items() if v["attempts"] != "1" or v["result"] != "SUCCESS"}
    assert not odd
    rows = _history(repo)
    assert sum(1 for r in rows if r["flow"] == "demo.build") == 2
    assert sum(1 for r in rows if r["flow"] == "demo.every_second") == len(ticks)
    # both replicas did fire the same ticks: the shared ledger kept one run of each
    fired = [_fired(tmp_path / f"r{n}" / "schedule.sqlite3") for n in (1, 2)]
    assert fired[0] & fired[1]
    assert len(ticks) == len(fired[0] | fired[1])


def _fired(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT scheduled FROM schedule_fired")}


def test_kill_from_the_api_reaches_the_worker_and_workergroup_routes(
        tmp_path: Path, redis_url: str) -> None:
    repo = _repo(tmp_path, {".flows/slow.yml": SLOW})
    server = Server(["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor", "process"],
                    cwd=repo, log=tmp_path / "serve.log")
    default_only = Worker(redis_url, tmp_path / "w1")
    gpu = Worker(redis_url, tmp_path / "w2", queues="gpu")
    try:
        _until("two live workers", lambda: len([w for w in _workers(redis_url) if w["alive"]]) == 2)
        execution = call(server.base, "POST", "/api/v1/executions/demo/slow")[1]["id"]
        _until("the run running", lambda: call(server.base, "GET", f"/api/v1/executions/{execution}")[1]
               ["state"]["current"] == "RUNNING")
        # the registry shows a worker's runs at its next heartbeat (every second)
        running = _until("the gpu worker listing the run", lambda: (
            found if (found := {w["pid"]: w["runs"] for w in _workers(redis_url)})
            .get(gpu.proc.pid) == [execution] else None))
        assert running[default_only.proc.pid] == []
        assert call(server.base, "POST", f"/api/v1/executions/{execution}/kill")[0] == 202
        _until("the run killed", lambda: call(server.base, "GET", f"/api/v1/executions/{execution}")[1]
               ["state"]["current"] == "KILLED", timeout=20)
        _until("KILLED in the history", lambda: [r for r in _history(repo)
                                                 if r["run"] == execution and r["state"] == "KILLED"])
    finally:
        for process in (default_only, gpu):
            process.stop()
        server.stop()


NAP = """\
id: nap
namespace: demo
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT15S
"""


def test_sigterm_hands_back_a_run_that_outlasts_the_grace_time(tmp_path: Path, redis_url: str) -> None:
    repo = _repo(tmp_path, {".flows/nap.yml": NAP})
    server = Server(["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor", "process"],
                    cwd=repo, log=tmp_path / "serve.log")
    leaving = Worker(redis_url, tmp_path / "w1", grace=1)
    staying: Worker | None = None
    try:
        _until("a live worker", lambda: [w for w in _workers(redis_url) if w["alive"]])
        first = call(server.base, "POST", "/api/v1/executions/demo/nap")[1]["id"]
        _until("the run running", lambda: call(server.base, "GET", f"/api/v1/executions/{first}")[1]
               ["state"]["current"] == "RUNNING")
        staying = Worker(redis_url, tmp_path / "w2")
        _until("two live workers", lambda: len([w for w in _workers(redis_url) if w["alive"]]) == 2)
        leaving.proc.terminate()
        assert leaving.proc.wait(30) == 0
        ledger = _until("the run done elsewhere", lambda: [v for v in _ledger(redis_url).values()
                                                           if v.get("state") == "done"])
        # handed back, it went on elsewhere under the same execution id, which ends SUCCESS
        assert ledger[0]["result"] == "SUCCESS" and ledger[0]["execution"] == first
        assert {r["run"]: r["state"] for r in _history(repo)} == {first: "SUCCESS"}
        _until("the server's view ending SUCCESS", lambda: call(
            server.base, "GET", f"/api/v1/executions/{first}")[1]["state"]["current"] == "SUCCESS")
        assert [w["pid"] for w in _workers(redis_url)] == [staying.proc.pid]  # left the registry
    finally:
        for process in (leaving, staying):
            if process is not None:
                process.stop()
        server.stop()


def test_a_run_key_is_reserved_once_and_its_sender_may_send_it_again_until_claimed(
        redis_url: str) -> None:
    from webhooks.scale.redisio import Ledger, Registry, connect

    ledger = Ledger(connect(redis_url))
    Registry(connect(redis_url)).beat("worker-1", {})
    assert ledger.reserve("k1", "default", "server-a")
    assert not ledger.reserve("k1", "default", "server-b")  # another replica: already queued
    assert ledger.reserve("k1", "default", "server-a")  # a restarted server-a forwards it again
    assert ledger.claim("k1", "worker-1", 3).status == "claimed"
    assert not ledger.reserve("k1", "default", "server-a")  # a worker has it: never again
    assert ledger.claim("k1", "worker-2", 3).status == "busy"


def test_a_server_killed_between_reserving_and_sending_sends_the_run_after_its_restart(
        tmp_path: Path, redis_url: str) -> None:
    """The server's SQLite queue is the outbox: a run queued there whose key the dead
    server had reserved (but not sent) reaches a worker once the server is back."""
    from runner.executors import Executors, LocalExecutor
    from webhooks.config import RepoConfig, ServerConfig
    from webhooks.runs.service import FlowService
    from webhooks.scale.commands import attach
    from webhooks.scale.redisio import Ledger, connect

    repo = _repo(tmp_path, {".flows/tick.yml": TICK})
    config = ServerConfig(data_dir=tmp_path / "server",
                          repos=(RepoConfig(name="demo", location=str(repo)),))
    service = FlowService(config, Executors(LocalExecutor()), environ={})
    loops = attach(service, redis_url)
    head = service.repos["demo"].resolve("HEAD")
    # the state a kill -9 leaves: queued locally, reserved in Redis, never sent
    assert service.intake.enqueue("outbox:1", "demo", "demo", "tick", head, {"type": "manual"},
                                  inputs={"n": "1"})
    assert service.intake.queue.counts() == {"queued": 1}
    sender = f"{socket.gethostname()}:{config.data_dir.resolve()}"
    assert Ledger(connect(redis_url)).reserve("outbox:1", "default", sender)
    worker = Worker(redis_url, tmp_path / "w1")
    try:
        for loop in loops:
            loop.start()
        _until("the run done", lambda: _ledger(redis_url).get("outbox:1", {}).get("state") == "done")
        assert _ledger(redis_url)["outbox:1"]["result"] == "SUCCESS"
        assert service.intake.queue.counts() == {"done": 1}
        assert [r["state"] for r in _history(repo)] == ["SUCCESS"]
    finally:
        for loop in loops:
            loop.stop()
        worker.stop()
        service.close()


def test_a_run_that_ended_before_its_worker_died_is_settled_once_under_its_execution(
        tmp_path: Path, redis_url: str) -> None:
    """The window the 200-run test hits by chance: a worker writes the run's end to the
    history and dies before the ledger hears. The next owner settles the key without
    running it again, and the ledger still names the execution the API handed out."""
    import dataclasses

    from runner.executors import Executors, LocalExecutor
    from runner.ids import ulid
    from webhooks.config import RepoConfig
    from webhooks.scale.redisio import PREFIX, Ledger, connect
    from webhooks.scale.worker import FlowWorker, WorkerOptions

    repo = _repo(tmp_path, {".flows/tick.yml": TICK})
    head = git(repo, "rev-parse", "HEAD").strip()
    payload = {"key": "api:ended", "repo": dataclasses.asdict(RepoConfig(name="demo", location=str(repo))),
               "namespace": "demo", "flow_id": "tick", "commit": head, "trigger": {"type": "api"},
               "untrusted": False, "inputs": {"n": "1"}, "execution_id": ulid(),
               "queue": "default", "queued": time.time(), "server": {}}
    first = FlowWorker(redis_url, WorkerOptions(data_dir=tmp_path / "w1", heartbeat_timeout=2),
                       Executors(LocalExecutor()), environ={})
    first.handle(payload)
    ledger = Ledger(connect(redis_url))
    assert ledger.get("api:ended")["execution"] == payload["execution_id"]
    # the state a kill -9 after the history write leaves: still running, owner silent
    ledger.client.hset(PREFIX + "run:api:ended", mapping={"state": "running", "owner": "gone:1:x"})
    second = FlowWorker(redis_url, WorkerOptions(data_dir=tmp_path / "w2", heartbeat_timeout=2),
                        Executors(LocalExecutor()), environ={})
    second.handle(payload)
    settled = ledger.get("api:ended")
    assert settled["state"] == "done" and settled["result"] == "SUCCESS"
    assert settled["execution"] == payload["execution_id"]
    assert [(r["run"], r["state"]) for r in _history(repo)] == [(payload["execution_id"], "SUCCESS")]
    for worker in (first, second):
        for service in worker._services.values():
            service.close()
