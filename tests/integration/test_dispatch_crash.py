"""kill -9 of the server in the middle of a batch of deliveries: the restarted server replays
the deliveries that batch had not finished, each exactly once (and none it had finished), and
every push ends with exactly one queued run."""

from __future__ import annotations

import http.server
import os
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

from tests.conftest import Server, free_port
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING, wait_until

FLOW = """\
id: build
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


class HoldingStatuses(http.server.ThreadingHTTPServer):
    """A commit statuses API that answers 201, except for the commits in `held`: their first
    status is kept unanswered until release(sha) (so the dispatcher posting it waits there)."""

    daemon_threads = True

    def __init__(self, held: set[str]) -> None:
        self.held = {sha: threading.Event() for sha in held}
        self.seen: dict[str, threading.Event] = {sha: threading.Event() for sha in held}
        self.posted: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def release(self, sha: str) -> None:
        self.held[sha].set()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sha = self.path.rsplit("/", 1)[-1]
        server = self.server
        assert isinstance(server, HoldingStatuses)
        server.posted.append(sha)
        if sha in server.held:
            server.seen[sha].set()
            server.held[sha].wait(CEILING)
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def inbox(data: Path) -> dict[str, tuple[str, int]]:
    """delivery id → (state, attempts), read from the server's inbox file."""
    with sqlite3.connect(data / "inbox.sqlite3") as conn:
        return {d: (state, attempts) for d, state, attempts in
                conn.execute("SELECT delivery_id, state, attempts FROM deliveries")}


def queued(data: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data / "runs.sqlite3") as conn:
        return [(key.split(":")[1], sha) for key, sha in conn.execute("SELECT key, commit_id FROM runs")]


def test_kill_9_mid_batch_replays_its_unfinished_deliveries_once_each(
        tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = [commit(repo, ".flows/build.yml", FLOW, "flow")]
    shas.append(commit(repo, "x.txt", "0", "first [skip ci]"))  # holds the dispatcher
    for i in range(1, 25):  # the batch; its 12th push's skip status is where the kill comes
        shas.append(commit(repo, "x.txt", str(i), f"change {i}" + (" [skip ci]" if i == 12 else "")))
    first_hold, mid_hold = shas[1], shas[13]
    api = HoldingStatuses({first_hold, mid_hold})
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        check_replay(tmp_path, octokit_examples, repo, shas, api)
    finally:
        for held in api.held.values():
            held.set()
        api.shutdown()


def check_replay(tmp_path: Path, octokit_examples: dict[str, list[dict[str, Any]]],  # noqa: F811
                 repo: Path, shas: list[str], api: HoldingStatuses) -> None:
    first_hold, mid_hold = shas[1], shas[13]
    data, port = tmp_path / "data", free_port()
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: octo/hello\n    location: {repo}\n    provider: github\n"
                      f"    webhook_secret_env: HELLO_SECRET\n    token_env: HELLO_TOKEN\n"
                      f"    api_url: http://127.0.0.1:{api.server_address[1]}\n")
    env = {"HELLO_SECRET": SECRET, "HELLO_TOKEN": "ghp_test"}
    args = ["--config", str(config), "--data", str(data), "--executor", "process"]
    server = Server(args, port=port, log=tmp_path / "first.log", env=env)
    try:
        ids = [f"d{i}" for i in range(1, len(shas))]
        assert deliver(server.base, push_payload(octokit_examples, shas[0], shas[1], "x"),
                       delivery=ids[0])[0] == 202
        assert api.seen[first_hold].wait(CEILING)  # the dispatcher is busy with the first
        for i in range(1, len(ids)):  # stored meanwhile: the next round takes them all at once
            payload = push_payload(octokit_examples, shas[i], shas[i + 1], "x")
            assert deliver(server.base, payload, delivery=ids[i])[0] == 202
        api.release(first_hold)
        assert api.seen[mid_hold].wait(CEILING)  # mid-batch: 11 pushes decided, 12 to go
        at_kill = inbox(data)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
    finally:
        server.stop()
    api.release(mid_hold)
    assert at_kill[ids[0]] == ("done", 1)
    assert {at_kill[d] for d in ids[1:]} == {("claimed", 1)}  # one batch, none finished

    server = Server(args, port=port, log=tmp_path / "second.log", env=env)
    try:
        wait_until(lambda: {s for s, _ in inbox(data).values()} == {"done"},
                   "every delivery to be done")
    finally:
        server.stop()
    final = inbox(data)
    assert final[ids[0]] == ("done", 1)  # finished before the kill: not replayed
    assert {final[d] for d in ids[1:]} == {("done", 2)}  # replayed once each
    runs = queued(data)
    expected = [(d, shas[i + 1]) for i, d in enumerate(ids) if shas[i + 1] not in (first_hold, mid_hold)]
    assert sorted(runs) == sorted(expected)  # one run per push, none twice
    assert api.posted.count(mid_hold) == 2  # its skipped status: again after the restart
