"""EachSequential/EachParallel, ForEachItem and storage.* run as Kestra's docs write them."""

from __future__ import annotations

import json
from pathlib import Path

from runner.events import State
from tests.unit.engine_helpers import Flows, Harness, final, flow_of, runs

SUBFLOW = """
id: subflow
namespace: company.team
inputs:
  - id: items
    type: STRING
tasks:
  - id: count
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.items) | trim | split('\\n') | length }}"
outputs:
  - id: rows
    type: INT
    value: "{{ outputs.count.value }}"
"""


def test_each_sequential_doc_example(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/flow/io.kestra.plugin.core.flow.eachsequential
    execution = h.run("""
        id: each_sequential
        namespace: company.team
        tasks:
          - id: each_sequential
            type: io.kestra.plugin.core.flow.EachSequential
            value: ["value 1", "value 2", "value 3"]
            tasks:
              - id: inner_task
                type: io.kestra.plugin.core.debug.Return
                format: "{{ task.id }} > {{ taskrun.value }}"
    """)
    assert execution.state.current is State.SUCCESS
    assert [r["value"] for r in runs(execution, "inner_task")] == ["value 1", "value 2", "value 3"]
    assert execution.task_outputs["inner_task"]["value 2"] == {"value": "inner_task > value 2"}


def test_each_parallel_doc_example_with_legacy_name_and_json_value(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/flow/io.kestra.plugin.core.flow.eachparallel
    execution = h.run("""
        id: each_parallel
        namespace: company.team
        tasks:
          - id: each_parallel
            type: io.kestra.core.tasks.flows.EachParallel
            value: '["value 1", "value 2", "value 3"]'
            concurrent: 2
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: "{{ taskrun.value }}"
    """)
    assert execution.state.current is State.SUCCESS
    assert sorted(h.logs("log")) == ["value 1", "value 2", "value 3"]
    assert final(execution, "each_parallel") == "SUCCESS"


def test_each_sequential_stops_at_a_failure_and_runs_errors(h: Harness) -> None:
    execution = h.run("""
        id: each_fail
        namespace: t
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.EachSequential
            value: [1, 2, 3]
            tasks:
              - id: fail_on_two
                type: io.kestra.plugin.core.execution.Fail
                condition: "{{ taskrun.value == '2' }}"
            errors:
              - id: handler
                type: io.kestra.plugin.core.log.Log
                message: "failed at {{ tasks.fail_on_two['2'].state }}"
    """)
    assert execution.state.current is State.FAILED
    assert [r["value"] for r in runs(execution, "fail_on_two")] == ["1", "2"]
    assert h.logs("handler") == ["failed at FAILED"]


def test_storage_tasks_chain_on_the_executions_files(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/storages (Write, Size, Split, Concat, Reverse, Delete)
    execution = h.run("""
        id: storage
        namespace: company.team
        tasks:
          - id: write
            type: io.kestra.plugin.core.storage.Write
            content: "a\\nb\\nc\\nd\\ne\\n"
            extension: .txt
          - id: size
            type: io.kestra.plugin.core.storage.Size
            uri: "{{ outputs.write.uri }}"
          - id: split
            type: io.kestra.plugin.core.storage.Split
            from: "{{ outputs.write.uri }}"
            rows: 2
          - id: concat
            type: io.kestra.plugin.core.storage.Concat
            files: "{{ outputs.split.uris }}"
            separator: "--\\n"
          - id: reverse
            type: io.kestra.plugin.core.storage.Reverse
            from: "{{ outputs.write.uri }}"
          - id: delete
            type: io.kestra.plugin.core.storage.Delete
            uri: "{{ outputs.reverse.uri }}"
          - id: show
            type: io.kestra.plugin.core.log.Log
            message: "{{ read(outputs.concat.uri) }}"
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    outputs = execution.task_outputs
    assert outputs["size"] == {"size": 10}
    assert [Path(u).read_text() for u in outputs["split"]["uris"]] == ["a\nb\n", "c\nd\n", "e\n"]
    assert h.logs("show") == ["a\nb\n--\nc\nd\n--\ne\n--\n"]  # a separator after each file
    assert outputs["delete"]["deleted"] is True
    assert not Path(outputs["reverse"]["uri"]).exists()


def test_concat_doc_example_with_a_separator(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/storages/io.kestra.plugin.core.storage.concat ("Concat
    # 2 files with a custom separator that adds a new line between each file")
    execution = h.run("""
        id: concat_example
        namespace: company.team

        tasks:
          - id: first_file
            type: io.kestra.plugin.scripts.shell.Commands
            commands:
              - echo "Hello John\\nGoodbye John" > name.txt
            outputFiles:
              - "name.txt"

          - id: second_file
            type: io.kestra.plugin.scripts.shell.Commands
            commands:
              - echo "Hello Jane\\nGoodbyeJane" > name.txt
            outputFiles:
              - "name.txt"

          - id: concat
            type: io.kestra.plugin.core.storage.Concat
            separator: "\\n"
            files:
              - "{{ outputs.first_file.outputFiles['name.txt'] }}"
              - "{{ outputs.second_file.outputFiles['name.txt'] }}"
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    text = Path(execution.task_outputs["concat"]["uri"]).read_text()
    assert text.split("\n")[:2] == ["Hello John", "Goodbye John"]
    assert "Hello Jane" in text and text.endswith("\n")


def test_storage_reads_only_this_executions_files(h: Harness, tmp_path: Path) -> None:
    secret = tmp_path / "host-file.txt"
    secret.write_text("not yours")
    execution = h.run(f"""
        id: escape
        namespace: t
        tasks:
          - id: size
            type: io.kestra.plugin.core.storage.Size
            uri: "{secret}"
    """)
    assert execution.state.current is State.FAILED
    assert any("is not a file of this execution" in line for line in h.logs("size"))


def test_filter_and_deduplicate_items(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/storages/io.kestra.plugin.core.storage.filteritems
    # (filterCondition reads the item's fields) and .deduplicateitems (keeps the last)
    rows = [{"product_id": "20", "email": "a@x"}, {"product_id": "21", "email": "b@x"},
            {"product_id": "20", "email": "a@x", "n": 2}]
    content = "".join(json.dumps(r) + "\\n" for r in rows).replace('"', '\\"')
    execution = h.run(f"""
        id: items
        namespace: company.team
        tasks:
          - id: write
            type: io.kestra.plugin.core.storage.Write
            content: "{content}{{product_id:\\"22\\",email:\\"c@x\\"}}\\n"
          - id: filter
            type: io.kestra.plugin.core.storage.FilterItems
            from: "{{{{ outputs.write.uri }}}}"
            filterCondition: "{{{{ (product_id | number) == 20 }}}}"
            filterType: INCLUDE
          - id: dedup
            type: io.kestra.plugin.core.storage.DeduplicateItems
            from: "{{{{ outputs.write.uri }}}}"
            expr: "{{{{ email }}}}"
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    filtered = execution.task_outputs["filter"]
    assert [json.loads(x) for x in Path(filtered["uri"]).read_text().splitlines()] == [
        rows[0], rows[2]]
    assert (filtered["processedItemsTotal"], filtered["droppedItemsTotal"]) == (4, 2)
    dedup = execution.task_outputs["dedup"]
    assert (dedup["numKeys"], dedup["droppedItemsTotal"]) == (3, 1)
    assert Path(dedup["uri"]).read_text().splitlines()[0] == json.dumps(rows[1])


def test_for_each_item_doc_example_batches_to_a_subflow(tmp_path: Path) -> None:
    # https://kestra.io/plugins/core/tasks/flow/io.kestra.plugin.core.flow.foreachitem
    h = Harness(tmp_path, flows=Flows(SUBFLOW))
    lines = "".join(f"row {i}\\n" for i in range(10))
    execution = h.engine.run(flow_of(f"""
        id: each_item
        namespace: company.team
        tasks:
          - id: file
            type: io.kestra.plugin.core.storage.Write
            content: "{lines}"
          - id: each
            type: io.kestra.plugin.core.flow.ForEachItem
            items: "{{{{ outputs.file.uri }}}}"
            batch:
              rows: 4
            namespace: company.team
            flowId: subflow
            wait: true
            transmitFailed: true
            inputs:
              items: "{{{{ taskrun.items }}}}"
    """))
    assert execution.state.current is State.SUCCESS, h.logs()
    out = execution.task_outputs["each"]
    assert out["numberOfBatches"] == 3 and out["iterations"] == {"SUCCESS": 3}
    merged = [json.loads(x) for x in Path(out["uri"]).read_text().splitlines()]
    assert merged == [{"rows": 4}, {"rows": 4}, {"rows": 2}]
    assert execution.task_outputs["each_merge"] == {"subflowOutputs": out["uri"]}
    assert execution.task_outputs["each_items"]["numberOfBatches"] == 3


FAILING_SUBFLOW = """
id: picky
namespace: company.team
inputs:
  - id: items
    type: STRING
tasks:
  - id: check
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ read(inputs.items) contains 'bad' }}"
    errorMessage: a bad row
"""


def _for_each_item(transmit: bool) -> str:
    return f"""
        id: each_item
        namespace: company.team
        tasks:
          - id: file
            type: io.kestra.plugin.core.storage.Write
            content: "good\\nbad\\ngood\\n"
          - id: each
            type: io.kestra.plugin.core.flow.ForEachItem
            items: "{{{{ outputs.file.uri }}}}"
            namespace: company.team
            flowId: picky
            transmitFailed: {str(transmit).lower()}
            inputs:
              items: "{{{{ taskrun.items }}}}"
    """


def test_for_each_item_transmit_failed(tmp_path: Path) -> None:
    h = Harness(tmp_path, flows=Flows(FAILING_SUBFLOW))
    failed = h.engine.run(flow_of(_for_each_item(True)))
    assert failed.state.current is State.FAILED
    assert failed.task_outputs["each"]["iterations"] == {"SUCCESS": 2, "FAILED": 1}
    tolerated = h.engine.run(flow_of(_for_each_item(False)))
    assert tolerated.state.current is State.SUCCESS
    assert tolerated.task_outputs["each"]["numberOfBatches"] == 3
