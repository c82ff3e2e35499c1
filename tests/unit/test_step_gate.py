"""A recorded host step starts only once its process group is on record: a worker killed in
between leaves no step that no record names (the next worker could not stop it, and the run's
re-delivery would run beside it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.executors.local import GATE, LocalExecutor, ProcessGroups
from runner.ports.executor import EXECUTION_LABEL, ExecutorError, ProcessSpec


def test_a_step_whose_gate_never_opens_never_runs(tmp_path: Path) -> None:
    """EOF on the gate (the worker died before recording) ends the step unrun."""
    marker = tmp_path / "ran"
    done = subprocess.run([*GATE, "sh", "-c", f"echo ran > {marker}"], stdin=subprocess.DEVNULL,
                          check=False)
    assert done.returncode == 125 and not marker.exists()


def test_the_record_exists_before_the_step_runs(tmp_path: Path) -> None:
    groups = ProcessGroups(tmp_path / "groups")
    lines: list[tuple[str, str]] = []
    script = (f'ls {tmp_path / "groups" / "ex1"} | grep -c "^$$-"; '
              'if read -r line; then echo "stdin: $line"; else echo "stdin: empty"; fi')
    spec = ProcessSpec(("sh", "-c", script), tmp_path, labels={EXECUTION_LABEL: "ex1"})
    result = LocalExecutor(groups).run(spec, lambda stream, line: lines.append((stream, line)))
    assert result.exit_code == 0
    assert lines == [("stdout", "1"), ("stdout", "stdin: empty")]  # on record; stdin /dev/null
    assert not (tmp_path / "groups" / "ex1").exists()  # removed once it ended


def test_a_missing_program_is_still_an_executor_error(tmp_path: Path) -> None:
    spec = ProcessSpec(("no-such-program-here",), tmp_path, labels={EXECUTION_LABEL: "ex1"})
    with pytest.raises(ExecutorError, match="cannot start no-such-program-here"):
        LocalExecutor(ProcessGroups(tmp_path / "groups")).run(spec, lambda stream, line: None)
