"""Screenshots of the UI's main pages for the README (docs/screenshots/*.png, rewritten on
every run, and copied to the test's own directory), taken from a real `flows serve`."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, page, serve_flows
from tests.waiting import CEILING

__all__ = ["browser", "page"]  # fixtures

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

RELEASE = """\
# Builds, tests on two Pythons at once, then publishes on the main branch only.
id: release
namespace: demo.ci
description: Build, test in parallel, publish
inputs:
  - id: version
    type: STRING
    defaults: "1.2.0"
  - id: publish_at
    type: DATETIME
    required: false
tasks:
  - id: build
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo building {{ inputs.version }}; sleep 0.4
  - id: tests
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: py311
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - echo testing on 3.11; sleep 0.8
      - id: py312
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - echo testing on 3.12; sleep 0.5
  - id: gate
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.version != '' }}"
    then:
      - id: publish
        type: io.kestra.plugin.core.log.Log
        message: publishing {{ inputs.version }}
    else:
      - id: skip
        type: io.kestra.plugin.core.log.Log
        message: nothing to publish
"""

NIGHTLY = """\
id: nightly
namespace: demo.ci
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b"]
    tasks:
      - id: say
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
triggers:
  - id: night
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""

DEPLOY = """\
id: deploy
namespace: demo.ci
tasks:
  - id: steps
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task:
          id: migrate
          type: io.kestra.plugin.core.log.Log
          message: migrating
      - task:
          id: upload
          type: io.kestra.plugin.core.execution.Fail
          errorMessage: "upload refused: the bucket is read-only"
        dependsOn: [migrate]
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"release.yml": RELEASE, "nightly.yml": NIGHTLY, "deploy.yml": DEPLOY})


def _shot(page: Any, name: str, tmp_path: Path, element: str | None = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / name
    (page.locator(element) if element else page).screenshot(path=str(target))
    shutil.copy(target, tmp_path / name)
    assert target.stat().st_size > 10_000


def test_screenshots_of_the_main_pages(served: Served, page: Any, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 1440, "height": 860})
    page.goto(served.base + "/#/flows/demo.ci/release")
    page.wait_for_selector("#graph .node[data-task='publish']")
    page.wait_for_selector("#diagnostics li.ok")
    page.click("#graph .node[data-task='py312'] > .node-head")
    page.wait_for_selector("#task-form[data-task='py312']")
    _shot(page, "flow-editor.png", tmp_path)

    page.click("#run-button")
    page.wait_for_function("document.body.dataset.route?.startsWith('executions/')")
    page.wait_for_selector("#exec-state :text('SUCCESS')")
    page.wait_for_selector("#logs :text('publishing 1.2.0')")
    page.wait_for_function(
        "document.querySelectorAll(\"#gantt .gantt-bar[data-state='SUCCESS']\").length >= 5")
    _shot(page, "execution.png", tmp_path)
    # the topology: groups round the Parallel and the If's branches, coloured by state
    page.wait_for_selector("#topology .topo-node[data-task='skip'][data-state='NOT_RUN']")
    _shot(page, "topology.png", tmp_path, "#topology")

    for flow in ("nightly", "deploy"):
        url = f"{served.base}/api/v1/executions/demo.ci/{flow}?wait=true"
        request = urllib.request.Request(url, data=b"{}", method="POST", headers={
            "Content-Type": "application/json", "X-Gitflows-Request": "1"})
        urllib.request.urlopen(request, timeout=CEILING).close()
    page.goto(served.base + "/#/history?by=commit")
    page.wait_for_selector("#history tr.commit-group")
    page.wait_for_function("document.querySelectorAll('#history tr[data-run]').length === 3")
    _shot(page, "history.png", tmp_path)

    page.goto(served.base + "/#/executions")
    page.wait_for_function("document.querySelectorAll('#executions tr[data-execution]').length === 3")
    _shot(page, "executions.png", tmp_path)

    page.goto(served.base + "/#/flows")  # last: the runs above are its dots
    page.wait_for_selector("#flows tr[data-flow='demo.ci.release'] .dot[data-state='SUCCESS']")
    page.wait_for_selector("#flows tr[data-flow='demo.ci.nightly'] .next-fire")
    _shot(page, "flows.png", tmp_path)

    page.goto(served.base + "/#/dashboard")
    page.wait_for_selector("#tile-total .tile-value:text-is('3')")
    page.wait_for_selector("#failures tr .failed-task code:text-is('upload')")
    page.wait_for_selector("#next-runs tr[data-trigger='night']")
    page.set_viewport_size({"width": 1440, "height": 1200})  # the lists below the charts too
    _shot(page, "dashboard.png", tmp_path)
