"""`flows run --record`, `flows history|show|logs|bisect` on a real repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import run_cli
from tests.integration.test_hooks import commit, git

FLOW = """\
id: check
namespace: demo
inputs:
  - id: mode
    type: STRING
    defaults: pass
tasks:
  - id: test
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
    commands:
      - echo "checking in {{ inputs.mode }} mode"
      - test "{{ inputs.mode }}" = pass
      - test "$(cat status.txt)" = good
"""


def repo_with_flow(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/check.yml", FLOW, "flow")
    commit(repo, "status.txt", "good\n", "good")
    return repo


def test_recorded_runs_are_listed_shown_and_readable_with_plain_git(tmp_path: Path) -> None:
    repo = repo_with_flow(tmp_path)
    flow = str(repo / ".flows" / "check.yml")
    ok = run_cli("run", flow, "--record", "--executor", "process", cwd=repo)
    assert ok.returncode == 0, ok.stderr
    bad = run_cli("run", flow, "--record", "--executor", "process", "-i", "mode=fail", cwd=repo)
    assert bad.returncode == 1
    listed = run_cli("history", "--json", cwd=repo)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["state"] for r in rows] == ["FAILED", "SUCCESS"]  # newest first
    head = git(repo, "rev-parse", "HEAD")
    assert {r["commit"] for r in rows} == {head}
    assert set(rows[0]) >= {"run", "flow", "state", "commit", "ref", "trigger", "started", "dur_ms"}
    assert rows[0]["flow"] == "demo.check" and rows[0]["ref"] in ("main", "refs/heads/main")
    failed = run_cli("history", "--state", "FAILED", "--json", cwd=repo)
    assert [r["run"] for r in json.loads(failed.stdout)] == [rows[0]["run"]]
    shown = run_cli("show", rows[0]["run"][:12], cwd=repo)
    assert shown.returncode == 0 and "test" in shown.stdout and "FAILED" in shown.stdout
    logs = run_cli("logs", rows[0]["run"], cwd=repo)
    assert "checking in fail mode" in logs.stdout
    notes = subprocess.run(["git", "-C", str(repo), "notes", "--ref=flows", "show", head],
                           capture_output=True, text=True, check=True).stdout
    events = [json.loads(line) for line in notes.splitlines()]
    assert {e["run"] for e in events} == {r["run"] for r in rows}
    missing = run_cli("show", "ZZZZ", cwd=repo)
    assert missing.returncode == 2 and "error:" in missing.stderr


def test_bisect_uses_history_and_runs_only_the_gap(tmp_path: Path) -> None:
    repo = repo_with_flow(tmp_path)
    flow = str(repo / ".flows" / "check.yml")
    assert run_cli("run", flow, "--record", "--executor", "process", cwd=repo).returncode == 0
    good = git(repo, "rev-parse", "HEAD")
    commit(repo, "a.txt", "a", "unrelated 1")
    culprit = commit(repo, "status.txt", "bad\n", "break it")
    commit(repo, "b.txt", "b", "unrelated 2")
    commit(repo, "c.txt", "c", "unrelated 3")
    assert run_cli("run", flow, "--record", "--executor", "process", cwd=repo).returncode == 1
    result = run_cli("bisect", "demo.check", "--executor", "process", cwd=repo, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"first failing commit: {culprit[:10]} break it" in result.stdout
    assert "last passing commit:  " in result.stdout
    ran = [line for line in result.stderr.splitlines() if line.startswith("running demo.check")]
    assert 1 <= len(ran) <= 2, ran  # the gap has 3 commits: binary search needs at most 2
    assert good not in " ".join(ran)
