"""What the GCS and Azure Blob trigger tests share: a flow that parses each CSV that lands in
storage, a real `flows serve` on a repository holding it, and waits for what the runs did."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Server, free_port, run_cli
from tests.integration.test_hooks import commit, git

WAIT_SECONDS = 120.0  # a ceiling for events on a loaded machine; waits end on the event

# {trigger} is the trigger's type and properties (indented four spaces); the run reads the CSV
# from the copy the trigger downloaded (`path`), sums its second column, appends a line.
PARSE_FLOW = """\
id: {flow_id}
namespace: demo
triggers:
  - id: watch
    interval: PT0.3S
{trigger}tasks:
  - id: parse
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - total=$(awk -F, 'NR>1 {{s+=$2}} END {{print s}}' "{{{{ trigger.blobs[0].path }}}}")
      - echo "{{{{ trigger.blobs[0].name }}}} $total {{{{ trigger.blobs[0].uri }}}}" >> {results}
"""


def run_flow(flow: Path, env: dict[str, str], hidden: tuple[str, ...]) -> dict[str, Any]:
    """`flows run FILE --json` as a user runs it; none of `hidden` may be printed."""
    result = run_cli("run", str(flow), "--json", "--executor", "process", env=env)
    assert not any(h in result.stdout + result.stderr for h in hidden)
    assert result.returncode in (0, 1), result.stderr
    execution: dict[str, Any] = json.loads(result.stdout)
    execution["_stderr"] = result.stderr
    return execution


def outputs(execution: dict[str, Any], task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in execution["taskRunList"] if t["taskId"] == task_id)["outputs"]
    return found


def parse_flow(flow_id: str, trigger: str, results: Path) -> str:
    return PARSE_FLOW.format(flow_id=flow_id, trigger=trigger, results=results)


def wait_for(probe: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def lines(path: Path, count: int) -> list[str]:
    """The results file once it has at least `count` lines."""
    def read() -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    wait_for(lambda: len(read()) >= count, f"{count} line(s) in {path}")
    return read()


def repo_with(tmp_path: Path, flows: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, text in flows.items():
        commit(repo, f".flows/{name}.yml", text, name)
    return repo


def serve(tmp_path: Path, repo: Path, port: int, name: str, env: dict[str, str]) -> Server:
    return Server(["--repo", f"demo={repo}", "--data", str(tmp_path / "data"), "--executor", "process"],
                  port=port, log=tmp_path / f"{name}.log", env=env)


def kill_9(server: Server) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)


def downloaded(data: Path, name: str) -> list[Path]:
    """The trigger's copies of an object named `name` (made by a poll, before its commit)."""
    return list(data.glob(f"**/{name}"))


def kill_between_poll_and_commit(tmp_path: Path, repo: Path, env: dict[str, str],
                                 put: Callable[[str, bytes], None], results: Path) -> dict[str, int]:
    """The exactly-once check: a server polls a.csv and is killed -9 before committing the
    batch; a second server fires it, then b.csv and c.csv. Counts each object's runs."""
    first = serve(tmp_path, repo, free_port(), "first",
                  {**env, "GITFLOWS_TEST_PAUSE_OBJECT_POLLED": "600"})
    try:
        put("incoming/a.csv", b"h,v\nx,1\ny,2\n")
        wait_for(lambda: downloaded(tmp_path / "data", "a.csv"), "the first server's poll of a.csv")
    finally:
        kill_9(first)
    assert not results.exists(), "nothing may run before the batch is committed"
    second = serve(tmp_path, repo, free_port(), "second", env)
    try:
        lines(results, 1)
        put("incoming/b.csv", b"h,v\nx,10\n")
        lines(results, 2)
        put("incoming/c.csv", b"h,v\nx,20\ny,30\n")  # many polls after a and b: they must not fire again
        lines(results, 3)
    finally:
        second.stop()
    counts: dict[str, int] = {}
    for line in results.read_text().splitlines():
        counts[line.split()[0]] = counts.get(line.split()[0], 0) + 1
    return counts
