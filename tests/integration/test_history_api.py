"""The history API reads the repository's notes: runs outlive the server process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Server
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call

FLOW = """\
id: hello
namespace: demo
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: hi
"""


def test_recorded_runs_are_listed_after_a_restart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hello.yml", FLOW, "flow")
    args = ["--data", str(tmp_path / "data"), "--executor", "process"]
    server = Server(args, cwd=repo, log=tmp_path / "first.log")
    try:
        status, run = call(server.base, "POST", "/api/v1/executions/demo/hello?wait=true", body={})
        assert status == 200 and run["state"]["current"] == "SUCCESS"
    finally:
        server.stop()
    server = Server(args, cwd=repo, log=tmp_path / "second.log")
    try:
        assert call(server.base, "GET", "/api/v1/executions")[1] == []  # a new process
        status, rows = call(server.base, "GET", "/api/v1/history")
        assert status == 200
        assert [(r["run"], r["flow"], r["state"], r["repo"]) for r in rows] == [
            (run["id"], "demo.hello", "SUCCESS", repo.name)]
        assert call(server.base, "GET", "/api/v1/history?state=FAILED")[1] == []
        status, detail = call(server.base, "GET", f"/api/v1/history/{run['id'][:10]}")
        assert status == 200 and detail["repo"] == repo.name
        assert call(server.base, "GET", "/api/v1/history/ZZZZ")[0] == 404
        notes = subprocess.run(["git", "-C", str(repo), "notes", "--ref=flows", "list"],
                               capture_output=True, text=True, check=True).stdout
        assert notes.strip()
    finally:
        server.stop()
