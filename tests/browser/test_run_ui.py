"""Running flows from the browser (Playwright, real chromium, real `flows serve`): typed input
widgets, live logs and Gantt, re-runs, and the history grouped by commit."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, page, serve_flows
from tests.waiting import CEILING, HOLD, Gate

__all__ = ["browser", "page"]  # fixtures

TYPED = """\
id: typed
namespace: demo
inputs:
  - id: when
    type: DATETIME
  - id: day
    type: DATE
    required: false
  - id: at
    type: TIME
    required: false
  - id: payload
    type: JSON
  - id: numbers
    type: ARRAY
    itemType: INT
    required: false
  - id: password
    type: SECRET
    required: false
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: >-
      when={{ inputs.when }} day={{ inputs.day }}
      second={{ inputs.payload.list[1] }} n={{ inputs.numbers[2] }}
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo tick 1
      - '""" + HOLD + """'
      - echo tick 2; echo tick 3
"""

UPLOAD = """\
id: upload
namespace: demo
inputs:
  - id: data
    type: FILE
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "file={{ inputs.data }}"
"""

FLAKY = """\
id: flaky
namespace: demo
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: one
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: broken on purpose
"""


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    """What `slow` holds on after `tick 1`: closed until the test has seen the run going."""
    return Gate(tmp_path / "gate")


@pytest.fixture
def served(tmp_path: Path, gate: Gate) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"typed.yml": TYPED, "upload.yml": UPLOAD, "flaky.yml": FLAKY},
                           env=gate.env)


def _execution(served: Served, execution_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{served.base}/api/v1/executions/{execution_id}", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def _execution_id(page: Any) -> str:
    page.wait_for_function("document.body.dataset.route?.startsWith('executions/')")
    return str(page.evaluate("document.body.dataset.route")).split("/", 1)[1]


def test_run_with_typed_inputs_streams_logs_and_draws_the_gantt_live(served: Served, gate: Gate,
                                                                     page: Any) -> None:
    page.goto(served.base + "/#/flows/demo/typed")
    page.wait_for_selector("#run-form")
    kinds = page.eval_on_selector_all("#run-form [name]", "els => els.map(e => [e.name, e.type])")
    assert kinds == [["when", "datetime-local"], ["day", "date"], ["at", "time"], ["payload", "textarea"],
                     ["numbers", "textarea"], ["password", "password"]]
    page.fill("#input-when", "2024-05-01T10:30:15")
    page.fill("#input-day", "2024-05-02")
    # a JSON box refuses what is not JSON, and ARRAY wants an array
    page.fill("#input-payload", "{not json")
    assert not page.eval_on_selector("#input-payload", "e => e.checkValidity()")
    page.fill("#input-payload", '{"list": ["a", "b"]}')
    assert page.eval_on_selector("#input-payload", "e => e.checkValidity()")
    page.fill("#input-numbers", '{"a": 1}')
    assert not page.eval_on_selector("#input-numbers", "e => e.checkValidity()")
    page.fill("#input-numbers", "[1, 2, 3]")
    page.click("#run-button")
    execution_id = _execution_id(page)

    # the log lines and the running bar show while the run goes on (`slow` holds after `tick 1`
    # until the gate opens), without a reload
    page.wait_for_selector("#logs :text('tick 1')")
    assert _execution(served, execution_id)["state"]["current"] == "RUNNING", "tick 1 came after the end"
    page.wait_for_selector("#gantt .gantt-row[data-task='slow'] .gantt-bar[data-state='RUNNING']")
    assert "tick 2" not in page.inner_text("#logs")
    gate.open()
    page.wait_for_selector("#exec-state :text('SUCCESS')")
    logs = page.inner_text("#logs")
    assert "when=2024-05-01T10:30:15 day=2024-05-02 second=b n=3" in logs
    assert logs.index("tick 1") < logs.index("tick 2") < logs.index("tick 3")
    bars = page.eval_on_selector_all("#gantt .gantt-row", """rows => rows.filter(r => r.dataset.task)
        .map(r => [r.dataset.task, [...r.querySelectorAll('.gantt-bar')].map(b => b.dataset.state)])""")
    assert bars == [["show", ["SUCCESS"]], ["slow", ["SUCCESS"]]]
    # the bars sit in time order: `slow` starts after `show`
    lefts = page.eval_on_selector_all("#gantt .gantt-bar", "bars => bars.map(b => parseFloat(b.style.left))")
    assert lefts[0] <= lefts[1]
    assert page.locator("#rerun").count() == 1


def test_a_file_input_is_sent_as_multipart(served: Served, page: Any, tmp_path: Path) -> None:
    upload = tmp_path / "notes.txt"
    upload.write_text("uploaded from the browser")
    page.goto(served.base + "/#/flows/demo/upload")
    page.wait_for_selector("#input-data[type='file']")
    page.set_input_files("#input-data", str(upload))
    posted = "/api/v1/executions/demo/upload"
    with page.expect_request(lambda r: r.method == "POST" and posted in r.url) as sent:
        page.click("#run-button")
    assert sent.value.headers["content-type"].startswith("multipart/form-data")
    assert sent.value.headers.get("x-gitflows-request") == "1"
    _execution_id(page)
    page.wait_for_selector("#exec-state :text('SUCCESS')")
    page.wait_for_selector("#logs :text('file=uploaded from the browser')")


def test_rerun_and_rerun_from_a_failed_task(served: Served, page: Any) -> None:
    """Needs the backend's POST /api/v1/executions/<id>/rerun."""
    page.goto(served.base + "/#/flows/demo/flaky")
    page.wait_for_selector("#run-form")
    page.click("#run-button")
    first = _execution_id(page)
    page.wait_for_selector("#exec-state :text('FAILED')")
    page.wait_for_selector("#gantt .gantt-row[data-task='boom'] .gantt-bar[data-state='FAILED']")
    assert page.locator("tr[data-task='first'] .rerun-from").count() == 0  # only failed tasks
    page.click("tr[data-task='boom'] .rerun-from")
    page.wait_for_function(f"document.body.dataset.route?.startsWith('executions/') && "
                           f"document.body.dataset.route !== 'executions/{first}'")
    second = _execution_id(page)
    page.wait_for_selector("#exec-state :text('FAILED')")
    assert _execution(served, second)["flowId"] == "flaky"
    page.click("#rerun")
    page.wait_for_function(f"!['executions/{first}', 'executions/{second}']"
                           ".includes(document.body.dataset.route) && "
                           "document.body.dataset.route.startsWith('executions/')")
    page.wait_for_selector("#exec-state :text('FAILED')")


def test_history_groups_runs_by_commit(served: Served, page: Any) -> None:
    for _ in range(2):
        request = urllib.request.Request(f"{served.base}/api/v1/executions/demo/flaky?wait=true", data=b"{}",
                                         method="POST", headers={"Content-Type": "application/json",
                                                                 "X-Gitflows-Request": "1"})
        urllib.request.urlopen(request, timeout=CEILING).close()
    page.goto(served.base + "/#/history")
    page.wait_for_function("document.querySelectorAll('#history tr[data-run]').length === 2")
    page.check("#history-by-commit")
    page.wait_for_selector("#history tr.commit-group")
    groups = page.eval_on_selector_all("#history tr.commit-group", "rows => rows.map(r => r.innerText)")
    assert len(groups) == 1 and "FAILED 2" in groups[0]
