"""A full disk under the server's data directory fails cleanly: the run ends, its queue
lease is released (not renewed until a restart), the log says it once, and an API start
answers JSON 507 instead of an HTML 500.

The data directory is a 2 MiB tmpfs (few inodes, as tmpfs directories take no blocks),
filled up: a real ENOSPC, as root mounts it."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, free_port
from tests.integration.test_hooks import SECRET, commit, deliver, git, push_payload
from tests.integration.test_serve import call
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)
from tests.waiting import CEILING

WAITER = """\
id: waiter
namespace: demo
triggers:
  - id: on_push
    type: gitflows.trigger.Push
tasks:
  - id: wait
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - while [ ! -f {go} ]; do sleep 0.05; done
      - echo done
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    data.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,nr_inodes=256", "tmpfs", str(data)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], capture_output=True)


def _fill(data: Path, name: str = "filler") -> Path:
    filler = data / name
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    for n in range(1000):  # the inodes too, as a directory takes blocks on a real disk
        try:
            (data / f"{name}-{n}").touch()
        except OSError:
            break
    return filler


def _wait(probe: Any, what: str, timeout: float = CEILING) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _queue_rows(data: Path) -> list[tuple[str, float | None]]:
    with sqlite3.connect(f"file:{data / 'runs.sqlite3'}?mode=ro", uri=True) as conn:
        return list(conn.execute("SELECT status, lease_until FROM runs"))


def test_a_full_disk_fails_cleanly(tmp_path: Path, small_disk: Path,
                                   octokit_examples: dict[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    go = tmp_path / "go"
    repo = tmp_path / "hello"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    first = commit(repo, ".flows/waiter.yml", WAITER.format(go=go), "flow")
    second = commit(repo, "x.txt", "x", "change")
    third = commit(repo, "y.txt", "y", "another change")
    config = tmp_path / "serve.yml"
    config.write_text(f"queue_lease: 2s\nworkers: 1\nrepos:\n  - name: octo/hello\n    location: {repo}\n"
                      "    provider: github\n    webhook_secret_env: HELLO_SECRET\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = Server(["--config", str(config), "--data", str(small_disk), "--executor", "process"],
                    port=port, log=log, env={"HELLO_SECRET": SECRET})
    try:
        assert deliver(base, push_payload(octokit_examples, first, second, "change"))[0] == 202
        _wait(lambda: any(e["state"]["current"] == "RUNNING"
                          for e in call(base, "GET", "/api/v1/executions")[1]), "the run")
        # a second run waits in the queue (one worker): it must start once there is space
        assert deliver(base, push_payload(octokit_examples, second, third, "again"))[0] == 202
        _wait(lambda: len(_queue_rows(small_disk)) == 2, "the second run queued")
        filler = _fill(small_disk)
        go.touch()
        runs = _wait(lambda: [e for e in call(base, "GET", "/api/v1/executions")[1]
                              if e["state"]["current"] in ("SUCCESS", "FAILED")], "the run's end")
        assert len(runs) == 1
        more = _fill(small_disk, "more")  # what the ended run's checkout freed

        status, body = call(base, "POST", "/api/v1/executions/demo/waiter")
        assert status in (503, 507), body
        assert isinstance(body, dict) and "space" in body["message"], body

        # its lease is not renewed while the queue cannot record the end …
        _wait(lambda: all(s == "done" or (lease or 0) < time.time()
                          for s, lease in _queue_rows(small_disk)), "the lease to run out")
        for path in (filler, more, *small_disk.glob("filler-*"), *small_disk.glob("more-*")):
            path.unlink()
        # … and once there is space again, the run is marked done, not run again, and the
        # queued one runs
        _wait(lambda: [s for s, _ in _queue_rows(small_disk)] == ["done", "done"], "the queue")
        runs = call(base, "GET", "/api/v1/executions")[1]
        assert [r["state"]["current"] for r in runs] == ["SUCCESS", "SUCCESS"], runs
        text = log.read_text()
        assert "cannot rollback" not in text
        errors = [line for line in text.splitlines() if " ERROR " in line]
        assert len(errors) <= 3, errors
    finally:
        server.stop()
