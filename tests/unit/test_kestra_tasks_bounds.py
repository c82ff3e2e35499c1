"""Attacks on the new core tasks (untrusted runs, paths out of the execution's files) and
properties of their parsers (Split's batching, item lines)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from runner.engine.engine import Engine
from runner.events import Collect, LogLine, State
from runner.executors import Executors, LocalExecutor
from runner.tasks.storage_files import chunks
from runner.tasks.storage_items import item_fields
from tests.unit.engine_helpers import Harness, flow_of


def _untrusted(tmp_path: Path) -> tuple[Engine, Collect]:
    # a container executor is present (as for a fork's run on a server); these flows start none
    events = Collect()
    executors = Executors(LocalExecutor(), container=LocalExecutor(), untrusted=True)
    return Engine(executors, events, data_dir=tmp_path / "d", work_root=tmp_path), events


def test_untrusted_runs_may_use_their_own_files_but_no_network_through_a_template(
        tmp_path: Path) -> None:
    engine, events = _untrusted(tmp_path)
    execution = engine.run(flow_of("""
        id: fork
        namespace: t
        tasks:
          - id: write
            type: io.kestra.plugin.core.storage.Write
            content: "a\\nb\\n"
          - id: size
            type: io.kestra.plugin.core.storage.Size
            uri: "{{ outputs.write.uri }}"
          - id: sneaky
            type: io.kestra.plugin.core.templating.TemplatedTask
            spec: |
              type: io.kestra.plugin.core.http.Request
              uri: http://127.0.0.1:9/
    """))
    assert execution.task_outputs["size"] == {"size": 4}
    assert execution.state.current is State.FAILED
    messages = [e.message for e in events.events if isinstance(e, LogLine) and e.task_id == "sneaky"]
    assert any("not allowed in an untrusted run" in m for m in messages), messages


def test_untrusted_runs_cannot_download(tmp_path: Path) -> None:
    engine, events = _untrusted(tmp_path)
    execution = engine.run(flow_of("""
        id: fork
        namespace: t
        tasks:
          - id: get
            type: io.kestra.plugin.core.http.Download
            uri: http://127.0.0.1:9/x
    """))
    assert execution.state.current is State.FAILED
    assert any("is not allowed in an untrusted run" in e.message
               for e in events.events if isinstance(e, LogLine))


def test_an_extension_cannot_climb_out_of_the_artifacts(h: Harness) -> None:
    execution = h.run("""
        id: climb
        namespace: t
        tasks:
          - id: write
            type: io.kestra.plugin.core.storage.Write
            content: x
            extension: ../../../escaped
    """)
    assert execution.state.current is State.FAILED
    assert any("extension must be a file name suffix" in m for m in h.logs("write"))


def test_a_link_in_the_working_directory_does_not_reach_out(h: Harness, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host data")
    execution = h.run(f"""
        id: link
        namespace: t
        tasks:
          - id: wd
            type: io.kestra.plugin.core.flow.WorkingDirectory
            tasks:
              - id: make_link
                type: io.kestra.plugin.scripts.shell.Commands
                taskRunner:
                  type: io.kestra.plugin.core.runner.Process
                commands:
                  - ln -s {outside} link.txt
              - id: size
                type: io.kestra.plugin.core.storage.Size
                uri: link.txt
    """)
    assert execution.state.current is State.FAILED
    assert any("is not a file of this execution" in m for m in h.logs("size"))


_LINES = st.lists(st.binary(min_size=0, max_size=20).map(lambda b: b.replace(b"\n", b"") + b"\n"),
                  max_size=40)


@given(_LINES, st.integers(min_value=1, max_value=10))
def test_rows_batches_keep_every_line_in_order(lines: list[bytes], rows: int) -> None:
    found = chunks(lines, {"rows": rows})
    assert b"".join(b"".join(c) for c in found) == b"".join(lines)
    assert all(0 < len(c) <= rows for c in found)


@given(_LINES, st.integers(min_value=1, max_value=10))
def test_partitions_keep_every_line_once(lines: list[bytes], partitions: int) -> None:
    found = chunks(lines, {"partitions": partitions})
    assert sorted(x for c in found for x in c) == sorted(lines)
    assert len(found) <= partitions


@given(_LINES, st.integers(min_value=1, max_value=64))
def test_bytes_batches_stay_under_the_size_unless_one_line_is_larger(
        lines: list[bytes], size: int) -> None:
    found = chunks(lines, {"bytes": f"{size}B"})
    assert b"".join(b"".join(c) for c in found) == b"".join(lines)
    assert all(sum(map(len, c)) <= size or len(c) == 1 for c in found)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
                     st.text(alphabet='ab,:{} "\\', max_size=12))  # looks like fields inside


@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), _SCALARS,
                       max_size=5))
def test_item_lines_read_as_json_and_as_ion_with_bare_field_names(item: dict[str, object]) -> None:
    assert item_fields(json.dumps(item)) == item
    bare = "{" + ",".join(f"{k}:{json.dumps(v)}" for k, v in item.items()) + "}"
    assert item_fields(bare) == item
