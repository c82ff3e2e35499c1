"""A new user's first hour with `flows run` / `flows bisect` (issue 18): progress while a
silent step runs (plain heartbeat lines off a terminal, a live view on one), the flow's
outputs at the end, `--record` dirtiness, bisect's usage errors, subjects and no re-runs.
Real `flows` processes, real git repositories, a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import threading
from pathlib import Path

from tests.conftest import FLOWS, run_cli
from tests.integration.test_history_cli import repo_with_flow
from tests.integration.test_hooks import commit, git
from tests.waiting import CEILING, Gate, wait_until

SILENT = """
id: silent
namespace: demo
tasks:
  - id: build
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - {hold}
      - 'echo "::{{\\"outputs\\":{{\\"version\\":\\"1.2.3\\"}}}}::"'
outputs:
  - id: version
    type: STRING
    value: "{{{{ outputs.build.vars.version }}}}"
  - id: sizes
    type: JSON
    value: '{{"a": 1}}'
"""


def _silent_flow(tmp_path: Path) -> tuple[Path, Gate]:
    gate = Gate(tmp_path / "gate")
    flow = tmp_path / "silent.yml"
    flow.write_text(SILENT.format(hold=gate.hold))
    return flow, gate


class _Reader:
    """Collects what a stream (a pipe or a pty's master side) gives, on a thread."""

    def __init__(self, fd: int) -> None:
        self.text = ""
        self._fd = fd
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:  # a pty's master reads EIO once the child side closed
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def join(self) -> None:
        self._thread.join(CEILING)


def test_a_silent_step_gets_heartbeat_lines_and_outputs_print_at_the_end(tmp_path: Path) -> None:
    flow, gate = _silent_flow(tmp_path)
    process = subprocess.Popen([*FLOWS, "run", str(flow), "--executor", "process"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "GITFLOWS_HEARTBEAT_SECONDS": "0.2"})
    assert process.stdout is not None and process.stderr is not None
    out, err = _Reader(process.stdout.fileno()), _Reader(process.stderr.fileno())
    try:
        beat = wait_until(lambda: re.search(r"… build still running \(\d+s\)", err.text),
                          "a heartbeat line for the silent step")
        assert beat and "FLOW" not in err.text  # it came while the step was still running
        assert out.text == ""  # outputs only once the run ended
    finally:
        gate.open()
    assert process.wait(CEILING) == 0, err.text
    out.join()
    err.join()
    assert out.text.splitlines() == ["outputs:", "  version: 1.2.3", '  sizes: {"a": 1}']
    assert "SUCCESS" in err.text and "outputs:" not in err.text


def test_json_keeps_stdout_pure_and_no_heartbeat_for_a_step_that_prints(tmp_path: Path) -> None:
    flow, gate = _silent_flow(tmp_path)
    gate.open()
    result = run_cli("run", str(flow), "--executor", "process", "--json",
                     env={"GITFLOWS_HEARTBEAT_SECONDS": "0"})
    assert result.returncode == 0, result.stderr
    execution = json.loads(result.stdout)  # the whole of stdout is the JSON
    assert execution["outputs"] == {"version": "1.2.3", "sizes": {"a": 1}}
    assert "still running" not in result.stderr


def test_a_terminal_gets_a_live_view_of_running_tasks(tmp_path: Path) -> None:
    flow, gate = _silent_flow(tmp_path)
    master, slave = pty.openpty()
    process = subprocess.Popen([*FLOWS, "run", str(flow), "--executor", "process"],
                               stdout=subprocess.PIPE, stderr=slave,
                               env={**os.environ, "TERM": "xterm", "COLUMNS": "100"})
    os.close(slave)
    assert process.stdout is not None
    screen, out = _Reader(master), _Reader(process.stdout.fileno())
    try:
        wait_until(lambda: "1 task(s) running" in screen.text, "the live view")
        row = wait_until(lambda: re.search(r"build\S*\s+\S*\d+s", screen.text),
                         "the running task with its elapsed time")
        assert row
    finally:
        gate.open()
    assert process.wait(CEILING) == 0, screen.text
    screen.join()
    out.join()
    os.close(master)
    assert "SUCCESS" in screen.text and "still running" not in screen.text
    assert out.text.startswith("outputs:\n  version: 1.2.3")


def test_record_counts_only_tracked_changes_as_dirty(tmp_path: Path) -> None:
    repo = repo_with_flow(tmp_path)
    flow = str(repo / ".flows" / "check.yml")
    (repo / "notes.txt").write_text("an untracked scratch file\n")
    clean = run_cli("run", flow, "--record", "--executor", "process", cwd=repo)
    assert clean.returncode == 0, clean.stderr
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")  # staged, not committed: the tree differs from HEAD
    dirty = run_cli("run", flow, "--record", "--executor", "process", cwd=repo)
    assert dirty.returncode == 0, dirty.stderr
    runs = json.loads(run_cli("history", "--json", cwd=repo).stdout)
    shown = [run_cli("show", r["run"], cwd=repo).stdout for r in runs]  # newest first
    assert "(dirty work tree)" in shown[0] and "(dirty work tree)" not in shown[1]


def test_bisect_names_an_unknown_flow_as_a_usage_error(tmp_path: Path) -> None:
    repo = repo_with_flow(tmp_path)
    typo = run_cli("bisect", "demo.chek", "--executor", "process", cwd=repo)
    assert typo.returncode == 2, typo
    assert "unknown flow 'demo.chek'" in typo.stderr and "did you mean demo.check" in typo.stderr
    assert "nothing to bisect" not in typo.stdout + typo.stderr
    other = run_cli("bisect", "zzz.qqq", "--executor", "process", cwd=repo)
    assert other.returncode == 2 and "known flows: demo.check" in other.stderr


def test_bisect_prints_subjects_and_never_runs_a_commit_twice(tmp_path: Path) -> None:
    repo = repo_with_flow(tmp_path)
    flow = str(repo / ".flows" / "check.yml")
    assert run_cli("run", flow, "--record", "--executor", "process", cwd=repo).returncode == 0
    for n in range(1, 4):
        commit(repo, f"f{n}.txt", "x", f"unrelated {n}")
    culprit = commit(repo, "status.txt", "bad\n", "break the status file")
    for n in range(4, 7):
        commit(repo, f"f{n}.txt", "x", f"unrelated {n}")
    first = run_cli("bisect", "demo.check", "--executor", "process", cwd=repo, timeout=300)
    assert first.returncode == 0, first.stderr
    assert f"first failing commit: {culprit[:10]} break the status file" in first.stdout
    assert re.search(r"last passing commit:  [0-9a-f]{10} unrelated 3", first.stdout)
    ran = [line for line in first.stderr.splitlines() if line.startswith("running demo.check")]
    assert ran and all(re.fullmatch(r"running demo\.check at [0-9a-f]{10} \S.*", r) for r in ran)
    assert len(set(ran)) == len(ran)  # no commit twice in one bisect
    again = run_cli("bisect", "demo.check", "--executor", "process", cwd=repo, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert "running demo.check" not in again.stderr  # every commit it needs is in the history
    assert "ran the flow at 0 commit(s)" in again.stderr


def test_printed_outputs_mask_secrets(tmp_path: Path) -> None:
    import base64

    flow = tmp_path / "secret.yml"
    flow.write_text("""
id: leaky
namespace: demo
tasks:
  - id: noop
    type: io.kestra.plugin.core.log.Log
    message: hello
outputs:
  - id: token
    type: STRING
    value: "token={{ secret('API_TOKEN') }}"
""")
    value = "s3cr3t-value-42"
    result = run_cli("run", str(flow), "--executor", "process",
                     env={"SECRET_API_TOKEN": base64.b64encode(value.encode()).decode()})
    assert result.returncode == 0, result.stderr
    assert "outputs:\n  token: token=" in result.stdout
    assert value not in result.stdout + result.stderr
