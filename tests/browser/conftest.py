"""A real `flows serve` on a temporary git repository with two flows, for the UI tests."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.waiting import CEILING, HOLD, Gate

GREET = """\
id: greet
namespace: demo
description: Says hello, slowly
inputs:
  - id: who
    type: STRING
    defaults: world
  - id: times
    type: INT
    defaults: 3
  - id: loud
    type: BOOLEAN
    defaults: false
  - id: color
    type: SELECT
    values: [red, green]
    defaults: green
  - id: note
    type: STRING
    required: false
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }} x{{ inputs.times }} {{ inputs.color }}"
  - id: lines
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo line 1
      - '""" + HOLD + """'
      - echo line 2; echo line 3
"""

OTHER = """\
id: other
namespace: demo.tools
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: one
        type: io.kestra.plugin.core.debug.Return
        format: "1"
      - id: two
        type: io.kestra.plugin.core.debug.Return
        format: "2"
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def get_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if method != "GET":
        headers["X-Gitflows-Request"] = "1"  # the CSRF header every state-changing call carries
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=CEILING) as response:  # ?wait=true waits for a run
        return json.loads(response.read())


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    """What GREET's `lines` holds on after `line 1`: open, unless a test closes it before a run."""
    opened = Gate(tmp_path / "gate")
    opened.open()
    return opened


@pytest.fixture
def served(tmp_path: Path, gate: Gate) -> Iterator[str]:
    """The base URL of a `flows serve` process serving a repository with GREET and OTHER."""
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "greet.yml").write_text(GREET)
    (repo / ".flows" / "other.yml").write_text(OTHER)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log", env=gate.env)
    try:
        yield server.base
    finally:
        server.stop()
