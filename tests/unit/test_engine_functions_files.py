"""The run's file functions and tasksWithState(), with flows written as Kestra's docs write
them (kestra.io/docs/expressions/functions/utilities, …/data-access, …/workflow): fileSize,
fileExists, isFileEmpty on outputs.<task>.uri, fileURI of a namespace file, read() of both,
and tasksWithState('FAILED') in an errors branch. Links are never followed."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.engine.run_functions import RunFiles
from runner.events import Collect, State
from runner.executors import Executors, LocalExecutor
from runner.git.files import CheckoutFiles
from tests.unit.engine_helpers import flow_of


def _run(tmp_path: Path, text: str, inputs: dict[str, str] | None = None) -> Execution:
    checkout = tmp_path / "checkout"
    if not checkout.exists():
        (checkout / "sql").mkdir(parents=True)
        (checkout / "my_file.txt").write_text("hello from the namespace")
        (checkout / "empty.txt").write_text("")
        (tmp_path / "private.txt").write_text("private")
        (checkout / "leak.txt").symlink_to(tmp_path / "private.txt")
    engine = Engine(Executors(LocalExecutor()), Collect(), environ={},
                    namespace_files=CheckoutFiles(checkout), data_dir=tmp_path / "data",
                    work_root=tmp_path)
    return engine.run(flow_of(text), inputs or {})


def _value(execution: Execution, task_id: str) -> object:
    [run] = [r for r in execution.task_runs if r.task_id == task_id]
    return run.outputs.get("value")


DOCS_UTILITIES = """
id: file_functions
namespace: company.team
tasks:
  - id: download
    type: io.kestra.plugin.core.storage.Write
    content: "12345"
  - id: nothing
    type: io.kestra.plugin.core.storage.Write
    content: ""
  - id: size
    type: io.kestra.plugin.core.debug.Return
    format: "{{ fileSize(outputs.download.uri) }}"
  - id: exists
    type: io.kestra.plugin.core.debug.Return
    format: "{{ fileExists(outputs.download.uri) }}"
  - id: empty
    type: io.kestra.plugin.core.debug.Return
    format: "{{ isFileEmpty(outputs.download.uri) }} {{ isFileEmpty(outputs.nothing.uri) }}"
  - id: missing
    type: io.kestra.plugin.core.debug.Return
    format: "{{ fileExists(outputs.download.uri ~ '.gone') }} {{ fileExists('sql/none.sql') }}"
"""


def test_file_functions_on_an_output_uri_as_kestra_documents_them(tmp_path: Path) -> None:
    execution = _run(tmp_path, DOCS_UTILITIES)
    assert execution.state.current == State.SUCCESS
    assert _value(execution, "size") == "5"
    assert _value(execution, "exists") == "true"
    assert _value(execution, "empty") == "false true"
    assert _value(execution, "missing") == "false false"


def test_file_functions_on_namespace_files_and_file_uri(tmp_path: Path) -> None:
    execution = _run(tmp_path, """
        id: ns_files
        namespace: company.team
        tasks:
          - id: uri
            type: io.kestra.plugin.core.debug.Return
            format: "{{ fileURI('my_file.txt') }}"
          - id: read
            type: io.kestra.plugin.core.debug.Return
            format: "{{ read(fileURI('my_file.txt')) }}|{{ read('my_file.txt') }}"
          - id: kestra_uri
            type: io.kestra.plugin.core.debug.Return
            format: "{{ fileSize('kestra:///company/team/_files/my_file.txt') }}"
          - id: stats
            type: io.kestra.plugin.core.debug.Return
            format: >-
              {{ fileSize('my_file.txt') }} {{ isFileEmpty('empty.txt') }}
              {{ fileExists(fileURI('empty.txt')) }}
          - id: script
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            inputFiles:
              data.txt: "{{ fileURI('my_file.txt') }}"
            commands:
              - echo "::{\\"outputs\\":{\\"got\\":\\"$(cat data.txt)\\"}}::"
        """)
    assert execution.state.current == State.SUCCESS
    assert _value(execution, "uri") == "nsfile:///my_file.txt"
    assert _value(execution, "read") == "hello from the namespace|hello from the namespace"
    assert _value(execution, "kestra_uri") == str(len("hello from the namespace"))
    assert _value(execution, "stats") == "24 true true"
    [script] = [r for r in execution.task_runs if r.task_id == "script"]
    assert script.outputs["vars"] == {"got": "hello from the namespace"}


def test_links_and_other_namespaces_are_refused(tmp_path: Path) -> None:
    flow = """
        id: refused
        namespace: company.team
        inputs:
          - id: expr
            type: STRING
        tasks:
          - id: probe
            type: io.kestra.plugin.core.debug.Return
            format: "{{ render(inputs.expr) }}"
        """
    assert _value(_run(tmp_path, flow, {"expr": "{{ read('my_file.txt', namespace='company.team') }}"}),
                  "probe") == "hello from the namespace"  # the same flow reads a plain file
    assert _value(_run(tmp_path, flow, {"expr": "{{ fileExists('leak.txt') }}"}),
                  "probe") == "false"
    for expr in ("{{ read('leak.txt') }}", "{{ fileSize('leak.txt') }}",
                 "{{ read('../private.txt') }}", "{{ fileExists('kestra:///other/_files/a') }}",
                 "{{ read('my_file.txt', namespace='other') }}", "{{ fileURI('../x') }}",
                 f"{{{{ fileSize('{tmp_path / 'private.txt'}') }}}}"):
        execution = _run(tmp_path, flow, {"expr": expr})
        assert execution.state.current == State.FAILED, expr
        assert _value(execution, "probe") is None


def test_a_link_among_handed_files_is_not_followed(tmp_path: Path) -> None:
    handed = tmp_path / "data" / "triggers" / "t1"
    handed.mkdir(parents=True)
    (handed / "real.csv").write_text("a,b\n")
    (tmp_path / "secret.txt").write_text("s3cret")
    (handed / "link.csv").symlink_to(tmp_path / "secret.txt")
    flow = """
        id: handed
        namespace: company.team
        inputs:
          - id: dir
            type: STRING
        tasks:
          - id: probe
            type: io.kestra.plugin.core.debug.Return
            format: "{{ fileSize(inputs.dir ~ '/real.csv') }} {{ fileExists(inputs.dir ~ '/link.csv') }}"
          - id: leak
            type: io.kestra.plugin.core.debug.Return
            format: "{{ read(inputs.dir ~ '/link.csv') }}"
        """
    execution = _run(tmp_path, flow, {"dir": str(handed)})
    assert _value(execution, "probe") == "4 false"
    assert execution.state.current == State.FAILED and _value(execution, "leak") is None


def test_tasks_with_state_in_an_errors_branch(tmp_path: Path) -> None:
    execution = _run(tmp_path, """
        id: failures
        namespace: company.team
        tasks:
          - id: ok
            type: io.kestra.plugin.core.debug.Return
            format: fine
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a", "b"]
            tasks:
              - id: check
                type: io.kestra.plugin.scripts.shell.Commands
                taskRunner:
                  type: io.kestra.plugin.core.runner.Process
                commands:
                  - test "{{ taskrun.value }}" = a
        errors:
          - id: report
            type: io.kestra.plugin.core.debug.Return
            format: "{{ tasksWithState('FAILED') | toJson }}"
          - id: succeeded
            type: io.kestra.plugin.core.debug.Return
            format: "{{ tasksWithState('success') | toJson }}"
        """)
    assert execution.state.current == State.FAILED
    failed = json.loads(str(_value(execution, "report")))
    assert failed == [{"taskId": "each", "state": "FAILED"},
                      {"taskId": "check", "state": "FAILED", "value": "b"}]
    succeeded = json.loads(str(_value(execution, "succeeded")))
    assert {"taskId": "ok", "state": "SUCCESS"} in succeeded
    assert {"taskId": "check", "state": "SUCCESS", "value": "a"} in succeeded


@given(st.text(max_size=40))
def test_any_path_stays_in_its_store(text: str) -> None:
    checkout, handed = Path("/srv/checkout"), Path("/srv/data/artifacts/E1")
    files = RunFiles("company.team", lambda: checkout, lambda: [handed])
    try:
        found = files.locate(text)
    except (PermissionError, LookupError):
        return
    assert found.root in (checkout.resolve(), handed.resolve())
    assert ".." not in found.rel.split("/") and not found.rel.startswith("/") and found.rel
