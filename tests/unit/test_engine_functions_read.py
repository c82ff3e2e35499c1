"""read(): repository files, and the files a run was handed (its artifacts, trigger files)."""

from __future__ import annotations

from pathlib import Path

from runner.engine.engine import Engine
from runner.events import State
from runner.executors import Executors, LocalExecutor
from runner.git.files import CheckoutFiles
from runner.language.parse import parse_flow

FLOW = """\
id: reader
namespace: demo
inputs:
  - id: path
    type: STRING
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.path) }}"
"""


class Sink:
    def emit(self, event: object) -> None:
        pass


def _read(tmp_path: Path, path: str) -> tuple[State, object]:
    checkout = tmp_path / "checkout"
    (checkout / "sql").mkdir(parents=True, exist_ok=True)
    (checkout / "sql" / "a.sql").write_text("select 1")
    flow, problems = parse_flow(FLOW, "reader.yml")
    assert flow is not None, problems
    engine = Engine(Executors(LocalExecutor()), Sink(), environ={},
                    namespace_files=CheckoutFiles(checkout), data_dir=tmp_path / "data")
    execution = engine.run(flow, {"path": path})
    [run] = execution.task_runs
    return execution.state.current, run.outputs.get("value")


def test_read_takes_repository_files(tmp_path: Path) -> None:
    assert _read(tmp_path, "sql/a.sql") == (State.SUCCESS, "select 1")
    assert _read(tmp_path, "/sql/a.sql") == (State.SUCCESS, "select 1")


def test_read_takes_event_trigger_files_but_nothing_else_outside_the_checkout(tmp_path: Path) -> None:
    handed = tmp_path / "data" / "triggers" / "demo-abc" / "copies" / "in.csv"
    handed.parent.mkdir(parents=True)
    handed.write_text("a,b\n1,2\n")
    assert _read(tmp_path, str(handed)) == (State.SUCCESS, "a,b\n1,2\n")
    assert _read(tmp_path, f"file://{handed}") == (State.SUCCESS, "a,b\n1,2\n")
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("private")
    for path in (str(secret), str(handed.parent / ".." / ".." / ".." / ".." / "elsewhere.txt"),
                 str(tmp_path / "data" / "kv" / "x")):
        state, value = _read(tmp_path, path)
        assert state == State.FAILED and value != "private"
