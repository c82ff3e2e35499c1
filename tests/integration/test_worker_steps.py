"""A `flows worker` killed with SIGKILL mid-step: the next worker on its data dir stops the
step it left running before taking runs, so the re-delivered run's step never runs beside it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.conftest import Server
from tests.integration.test_crash_exactly_once import _running
from tests.integration.test_scale import (  # noqa: F401 (fixtures)
    Worker,
    _repo,
    _until,
    redis_server,
    redis_url,
)
from tests.integration.test_serve import call

APPENDER = """\
id: appender
namespace: demo
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "start $$" >> {side}
      # the first attempt outlives the worker; a later one is quick
      - if [ "$(wc -l < {side})" -le 1 ]; then sleep 120; else sleep 1; fi
      - echo "end $$" >> {side}
"""


def test_the_next_worker_on_a_data_dir_stops_the_steps_a_killed_one_left(
        tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    side = tmp_path / "side-effect.txt"
    repo = _repo(tmp_path, {".flows/appender.yml": APPENDER.format(side=side)})
    server = Server(["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor",
                     "process"], cwd=repo, log=tmp_path / "serve.log")
    data = tmp_path / "w"
    first = Worker(redis_url, data)
    second: Worker | None = None
    try:
        started = call(server.base, "POST", "/api/v1/executions/demo/appender")[1]
        assert "id" in started, started
        _until("the first step", lambda: side.exists() and side.read_text().startswith("start "))
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
        old = int(side.read_text().split()[1])
        assert _running(old)  # the dead worker's step goes on without it …
        second = Worker(redis_url, data)
        _until("the old step stopped", lambda: not _running(old))  # … until a worker starts there
        lines = _until("the run again, to its end", lambda: [
            line for line in side.read_text().splitlines()] if "end" in side.read_text() else None,
            timeout=90)
        new = int(lines[1].split()[1])
        assert lines == [f"start {old}", f"start {new}", f"end {new}"]
        assert "left running" in second.log.read_text()
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
        server.stop()
