"""kv.GetKeys, log.Fetch, metric.Publish, TemplatedTask, http.Download, namespace.*, and
the server-only types: each as Kestra's documentation writes it."""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.events import Collect, State
from runner.executors import Executors, LocalExecutor
from runner.git.files import CheckoutFiles
from runner.language.parse import parse_flow
from tests.unit.engine_helpers import Harness, flow_of


def test_kv_get_keys_doc_example(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/kv/io.kestra.plugin.core.kv.getkeys
    execution = h.run("""
        id: kv_store_getkeys
        namespace: company.team
        tasks:
          - id: set1
            type: io.kestra.plugin.core.kv.Set
            key: my_key
            value: 1
          - id: set2
            type: io.kestra.plugin.core.kv.Set
            key: my_other
            value: 2
          - id: set3
            type: io.kestra.plugin.core.kv.Set
            key: unrelated
            value: 3
          - id: get_keys_by_prefix
            type: io.kestra.plugin.core.kv.GetKeys
            prefix: my_
    """)
    assert execution.task_outputs["get_keys_by_prefix"] == {"keys": ["my_key", "my_other"]}


def test_log_fetch_reads_this_executions_logs(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/log/io.kestra.plugin.core.log.fetch
    execution = h.run("""
        id: fetch
        namespace: company.team
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: Hello World
          - id: quiet
            type: io.kestra.plugin.core.log.Log
            level: DEBUG
            message: not fetched
          - id: fetch
            type: io.kestra.plugin.core.log.Fetch
            level: INFO
            tasksId: [hello, quiet]
    """)
    out = execution.task_outputs["fetch"]
    lines = [json.loads(x) for x in Path(out["uri"]).read_text().splitlines()]
    assert out["size"] == 1
    assert [(x["taskId"], x["level"], x["message"]) for x in lines] == [
        ("hello", "INFO", "Hello World")]


def test_metric_publish_logs_each_metric(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/metric/io.kestra.plugin.core.metric.publish
    execution = h.run("""
        id: publish_metrics
        namespace: company.team
        tasks:
          - id: publish
            type: io.kestra.plugin.core.metric.Publish
            metrics:
              - type: counter
                name: orders
                value: 12
                tags:
                  region: eu
              - type: timer
                name: duration
                value: PT5S
    """)
    assert execution.state.current is State.SUCCESS
    assert h.logs("publish") == ["metric counter orders=12 region=eu", "metric timer duration=PT5S"]


def test_templated_task_renders_and_runs_its_spec(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/templating/io.kestra.plugin.core.templating.templatedtask
    execution = h.run("""
        id: templated_task
        namespace: company.team
        variables:
          property: format
          value: rendered at run time
        tasks:
          - id: templated_task
            type: io.kestra.plugin.core.templating.TemplatedTask
            spec: |
              type: io.kestra.plugin.core.debug.Return
              {{ vars.property }}: {{ vars.value }}
    """)
    assert execution.task_outputs["templated_task"] == {"value": "rendered at run time"}


def test_templated_task_refuses_a_flowable_spec(h: Harness) -> None:
    execution = h.run("""
        id: templated_flowable
        namespace: t
        tasks:
          - id: t
            type: io.kestra.plugin.core.templating.TemplatedTask
            spec: |
              type: io.kestra.plugin.core.flow.Sequential
              tasks: []
    """)
    assert execution.state.current is State.FAILED
    assert any("is a flowable task" in line for line in h.logs("t"))


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"id,name\n1,Ada\n" if self.path == "/orders.csv" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_doc_example(h: Harness, file_server: str) -> None:
    # https://kestra.io/plugins/core/tasks/http/io.kestra.plugin.core.http.download
    execution = h.run(f"""
        id: download
        namespace: company.team
        tasks:
          - id: extract
            type: io.kestra.plugin.core.http.Download
            uri: {file_server}/orders.csv
          - id: missing
            type: io.kestra.plugin.core.http.Download
            uri: {file_server}/nothing.csv
    """)
    out = execution.task_outputs["extract"]
    assert (out["code"], out["length"]) == (200, 14)
    assert Path(out["uri"]).read_text() == "id,name\n1,Ada\n"
    assert execution.state.current is State.FAILED
    assert any("answered 404" in line for line in h.logs("missing"))


def test_namespace_download_files_reads_the_checkout(tmp_path: Path) -> None:
    # https://kestra.io/plugins/core/tasks/namespace/io.kestra.plugin.core.namespace.downloadfiles
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "a.sql").write_text("select 1")
    (repo / "README.md").write_text("x")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    events = Collect()
    engine = Engine(Executors(LocalExecutor()), events, data_dir=tmp_path / "data",
                    work_root=tmp_path, namespace_files=CheckoutFiles(repo))
    execution = engine.run(flow_of("""
        id: download_files
        namespace: company.team
        tasks:
          - id: download
            type: io.kestra.plugin.core.namespace.DownloadFiles
            namespace: company.team
            files:
              - "scripts/**"
          - id: upload
            type: io.kestra.plugin.core.namespace.UploadFiles
            namespace: company.team
            filesMap:
              a.txt: "{{ outputs.download.files['/scripts/a.sql'] }}"
    """))
    files = execution.task_outputs["download"]["files"]
    assert list(files) == ["/scripts/a.sql"]
    assert Path(files["/scripts/a.sql"]).read_text() == "select 1"
    assert execution.state.current is State.FAILED  # UploadFiles: validated only
    assert any("namespace files are the repository's files" in str(getattr(e, "message", ""))
               for e in events.events)


def test_server_only_tasks_validate_and_fail_saying_why(h: Harness) -> None:
    # https://kestra.io/plugins/core/tasks/executions/io.kestra.plugin.core.execution.count
    text = """
        id: executions_count
        namespace: company.team
        tasks:
          - id: counts
            type: io.kestra.plugin.core.execution.Count
            expression: "{{ count == 0 }}"
            startDate: "{{ now() | dateAdd(-1, 'DAYS') }}"
            flows:
              - namespace: company.team
                flowId: logs
        triggers:
          - id: dates
            type: io.kestra.plugin.core.trigger.ScheduleOnDates
            dates:
              - 2025-12-24T08:00:00Z
    """
    flow, diagnostics = parse_flow(textwrap.dedent(text).lstrip("\n"), "f.yml")
    assert flow is not None  # accepted, with a warning for each type saying why
    assert [(d.severity.value, d.code) for d in diagnostics] == [("warning", "validated-only")] * 2
    execution = h.run(text)
    assert execution.state.current is State.FAILED
    assert h.logs("counts") == ["io.kestra.plugin.core.execution.Count does not run here: this "
                                "runner keeps no execution database: runs are recorded in the "
                                "repository's git notes; query them with `flows history`"]
