"""Scale-out with real processes (redis-server, `flows serve --broker`, `flows worker`):
re-runs from a task applied on the worker, re-runs from the history after a server
restart, and a newer push killing the older run of its branch on another worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.engine.kv import FileKVStore
from tests.conftest import Server
from tests.integration.test_editing_serve import api
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.integration.test_rerun_serve import FLAKY, task
from tests.integration.test_scale import (  # noqa: F401 (fixtures)
    Worker,
    _history,
    _ledger,
    _until,
    _workers,
    redis_server,
    redis_url,
)
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING

TERMINAL = ("SUCCESS", "WARNING", "FAILED", "KILLED")


def _state(base: str, execution_id: str) -> str | None:
    status, body = api(base, "GET", f"/api/v1/executions/{execution_id}")
    return str(body["state"]["current"]) if status == 200 else None


def _ended(base: str, execution_id: str, timeout: float = CEILING) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        status, body = api(base, "GET", f"/api/v1/executions/{execution_id}")
        return body if status == 200 and body["state"]["current"] in TERMINAL else None

    found: dict[str, Any] = _until(f"execution {execution_id} ended", state, timeout)
    return found


def test_rerun_from_a_task_runs_on_a_worker_with_the_outputs_reused(tmp_path: Path,
                                                                     redis_url: str) -> None:  # noqa: F811
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    counter = tmp_path / "counter.txt"
    first_commit = commit(repo, ".flows/flaky.yml", FLAKY.replace("COUNTER", str(counter)), "flaky")
    args = ["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor", "process"]
    server = Server(args, cwd=repo, log=tmp_path / "serve.log")
    worker = Worker(redis_url, tmp_path / "w1")
    try:
        status, started = api(server.base, "POST", "/api/v1/executions/demo/flaky", {"who": "Ada"})
        assert status == 200, started
        first = _ended(server.base, started["id"])
        assert first["state"]["current"] == "FAILED" and counter.read_text() == "ran\n"
        FileKVStore(tmp_path / "w1" / "kv").set("demo", "fixed", "fixed")  # the worker's KV

        status, started = api(server.base, "POST",
                              f"/api/v1/executions/{first['id']}/rerun?fromTask=second")
        assert status == 200, started
        again = _ended(server.base, started["id"])
        assert again["state"]["current"] == "SUCCESS", again
        assert counter.read_text() == "ran\n"  # the worker reused task 1's outputs
        assert task(again, "first")["attempts"] == []
        assert task(again, "second")["outputs"]["value"] == f"fixed {first['id']} Ada (v1)"
        server.stop()

        # after a restart the server knows the runs from the notes only: re-run from there
        server = Server(args, cwd=repo, log=tmp_path / "serve2.log")
        status, started = api(server.base, "POST",
                              f"/api/v1/executions/{first['id']}/rerun?fromTask=second")
        assert status == 200, started
        third = _ended(server.base, started["id"])
        assert third["state"]["current"] == "SUCCESS" and counter.read_text() == "ran\n"
        assert task(third, "second")["outputs"]["value"] == f"fixed {first['id']} Ada (v1)"
        rows = {r["run"]: r for r in _history(repo)}
        assert rows[third["id"]]["trigger"] == "rerun" and rows[third["id"]]["commit"] == first_commit
    finally:
        worker.stop()
        server.stop()


BUILD = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
    branches: [main]
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Sleep
    duration: DURATION
"""


def test_a_newer_push_kills_the_older_run_on_another_worker(
        tmp_path: Path, redis_url: str,  # noqa: F811
        octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, "README", "hello\n", "init")
    slow = commit(repo, ".flows/build.yml", BUILD.replace("DURATION", "PT60S"), "slow build")
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n    provider: github\n"
                      "    webhook_secret_env: HELLO_SECRET\n")  # superseded: cancel (default)
    server = Server(["--config", str(config), "--broker", redis_url, "--data", str(tmp_path / "serve"),
                     "--executor", "process"], log=tmp_path / "serve.log", env={"HELLO_SECRET": SECRET})
    # one run at a time each: the second push has to go to the other worker
    workers = [Worker(redis_url, tmp_path / f"w{n}", concurrency=1) for n in (1, 2)]
    try:
        _until("two live workers", lambda: len([w for w in _workers(redis_url) if w["alive"]]) == 2)
        assert deliver(server.base, push_payload(octokit_examples, base, slow, "slow"))[0] == 202

        def running() -> dict[str, str] | None:
            busy = [v for v in _ledger(redis_url).values() if v.get("state") == "running"
                    and v.get("execution")]
            return busy[0] if busy else None

        older = _until("the first push running on a worker", running)
        _until("its execution RUNNING", lambda: _state(server.base, older["execution"]) == "RUNNING")
        fast = commit(repo, ".flows/build.yml", BUILD.replace("DURATION", "PT0.2S"), "fast build")
        assert deliver(server.base, push_payload(octokit_examples, slow, fast, "fast"))[0] == 202

        first = _ended(server.base, older["execution"])
        assert first["state"]["current"] == "KILLED", first

        def settled() -> dict[str, dict[str, str]]:
            ledger = _ledger(redis_url)
            return ledger if len(ledger) == 2 and all(
                v.get("state") == "done" for v in ledger.values()) else {}

        ledger = _until("both pushes done", settled)
        newer = next(v for v in ledger.values() if v["execution"] != older["execution"])
        assert newer["result"] == "SUCCESS" and newer["owner"] != older["owner"], ledger
        rows = {r["run"]: r for r in _history(repo) if r["flow"] == "demo.build"}
        assert rows[older["execution"]]["state"] == "KILLED"
        assert rows[newer["execution"]]["state"] == "SUCCESS"
        assert (rows[older["execution"]]["commit"], rows[newer["execution"]]["commit"]) == (slow, fast)
    finally:
        for worker in workers:
            worker.stop()
        server.stop()


HELLO = """\
id: hello
namespace: demo
tasks:
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "hi"
"""


def _done_in_ledger(url: str, key: str) -> Callable[[], bool]:
    """It went through the broker to the worker, which finished it."""
    return lambda: _ledger(url).get(key, {}).get("result") == "SUCCESS"


def test_the_broker_can_be_a_config_file_setting_and_the_flag_overrides_it(
        tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hello.yml", HELLO, "hello")
    worker = Worker(redis_url, tmp_path / "w1")
    servers: list[Server] = []
    try:
        cases = [(redis_url, []), ("redis://127.0.0.1:1/0", ["--broker", redis_url])]
        for n, (setting, flag) in enumerate(cases):
            config = tmp_path / f"serve{n}.yml"  # the second names a dead broker: the flag wins
            config.write_text(f"broker: {setting}\nrepos:\n  - name: hello\n    location: {repo}\n")
            server = Server(["--config", str(config), *flag, "--data", str(tmp_path / f"serve{n}"),
                             "--executor", "process"], log=tmp_path / f"serve{n}.log")
            servers.append(server)
            status, started = api(server.base, "POST", "/api/v1/executions/demo/hello", {})
            assert status == 200, started
            assert _ended(server.base, started["id"])["state"]["current"] == "SUCCESS"
            _until("the run done in the ledger", _done_in_ledger(redis_url, f"api:{started['id']}"))
    finally:
        worker.stop()
        for server in servers:
            server.stop()
