"""One run path: `flows run`, `flows ci` and bisect build their runs through the same
RunSession, so what a run can reach (the KV store, subflows) is the same from every face."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_cli

SET = """
id: remember
namespace: shared
tasks:
  - id: put
    type: io.kestra.plugin.core.kv.Set
    key: release
    value: "2026.12"
"""

GET = """
id: recall
namespace: shared
tasks:
  - id: get
    type: io.kestra.plugin.core.log.Log
    message: "release={{ kv('release') }}"
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def _repo(tmp_path: Path, flows: dict[str, str]) -> Path:
    work = tmp_path / "work"
    (work / ".flows").mkdir(parents=True)
    for name, text in flows.items():
        (work / ".flows" / name).write_text(text)
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "flows")
    return work


def test_flows_run_and_flows_ci_share_the_kv_store(tmp_path: Path) -> None:
    """Before: `flows ci` kept its KV under $RUNNER_TEMP, so a value set by `flows run` (or by
    an earlier job step) was not there."""
    work = _repo(tmp_path, {"recall.yml": GET})
    (tmp_path / "remember.yml").write_text(SET)
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "RUNNER_TEMP": str(tmp_path / "tmp"),
           "GITHUB_ACTIONS": "", "GITHUB_EVENT_PATH": "", "GITHUB_EVENT_NAME": ""}
    stored = run_cli("run", str(tmp_path / "remember.yml"), "--executor", "process", env=env)
    assert stored.returncode == 0, stored.stderr
    read = run_cli("ci", "--event", "manual", "--repo", str(work), "--flow", "shared.recall",
                   "--executor", "process", env=env)
    assert read.returncode == 0, read.stderr
    assert "release=2026.12" in read.stderr


def test_flows_run_finds_a_subflow_next_to_the_file(tmp_path: Path) -> None:
    """Before: a flow outside `.flows/` found its subflows only in the repository's `.flows/`."""
    (tmp_path / "child.yml").write_text("""
id: child
namespace: local
outputs:
  - id: answer
    type: STRING
    value: "42"
tasks:
  - id: noop
    type: io.kestra.plugin.core.log.Log
    message: child ran
""")
    (tmp_path / "parent.yml").write_text("""
id: parent
namespace: local
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: local
    flowId: child
    wait: true
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "child said {{ outputs.call.outputs.answer }}"
""")
    done = run_cli("run", str(tmp_path / "parent.yml"), "--executor", "process",
                   env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert "child said 42" in done.stderr
