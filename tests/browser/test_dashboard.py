"""The home dashboard's trends and lists (issue 18), after a server restart so they come from
the notes history: each flow's duration per day as a chart.js line, the latest failures with
the task that failed and its error, the next scheduled runs; in a real chromium under the
UI's CSP with no console error."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, git, serve_flows
from tests.browser.strict import tab
from tests.conftest import Server

__all__ = ["browser", "tab"]  # fixtures

STEADY = """\
id: steady
namespace: demo
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
triggers:
  - id: hourly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "30 2 * * *"
    timezone: Europe/Paris
"""

FLAKY = """\
id: flaky
namespace: demo
tasks:
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: fine
        type: io.kestra.plugin.core.log.Log
        message: fine
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
        errorMessage: the disk is full
"""


def _serve(tmp_path: Path, repo: Path) -> Server:
    return Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                  log=tmp_path / "serve.log")


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[Served]:
    """Two runs of each flow through a first server, then a second server on the same data."""
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "steady.yml").write_text(STEADY)
    (repo / ".flows" / "flaky.yml").write_text(FLAKY)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    first = _serve(tmp_path, repo)
    try:
        for flow in ("steady", "flaky", "steady", "flaky"):
            url = f"{first.base}/api/v1/executions/demo/{flow}?wait=true"
            request = urllib.request.Request(url, data=b"{}", method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                assert json.loads(response.read())["state"]["current"] in ("SUCCESS", "FAILED")
    finally:
        first.stop()
    second = _serve(tmp_path, repo)
    try:
        yield Served(second.base, repo)
    finally:
        second.stop()


def test_the_dashboard_shows_trends_failures_and_next_runs_after_a_restart(restarted: Served,
                                                                           tab: Any) -> None:
    tab.goto(restarted.base + "/#/dashboard")
    tab.wait_for_selector("#tile-total .tile-value:text-is('4')")
    assert tab.inner_text("#tile-rate .tile-value") == "50%"
    # the latest failures: both runs of flaky, newest first, naming the child that failed
    rows = tab.locator("#failures tbody tr")
    assert rows.count() == 2
    for i in range(2):
        assert rows.nth(i).locator(".failed-task").inner_text() == "boom"
        assert "the disk is full" in rows.nth(i).locator(".failure-message").inner_text()
        assert "demo.flaky" in rows.nth(i).inner_text()
    ids = [r.get_attribute("data-execution") for r in rows.all()]
    assert ids == sorted(ids, reverse=True)
    # the next scheduled runs: soonest first, each trigger of steady with its cron
    fires = tab.locator("#next-runs tbody tr")
    assert {f.get_attribute("data-trigger") for f in fires.all()} == {"hourly", "nightly"}
    nexts = [f.locator(".next-fire").get_attribute("data-next") for f in fires.all()]
    assert nexts == sorted(nexts) and all(n.endswith("Z") for n in nexts)
    assert "Europe/Paris" in tab.inner_text("#next-runs tr[data-trigger='nightly']")
    # a duration line per flow, today's point set (chart.js' own record of what it drew)
    lines = tab.evaluate("""() => window.gitflowsCharts.Chart.getChart('chart-durations').data.datasets
        .map((d) => ({ label: d.label, today: d.data[d.data.length - 1] }))""")
    assert {line["label"] for line in lines} == {"demo.steady", "demo.flaky"}
    assert all(isinstance(line["today"], int | float) and line["today"] >= 0 for line in lines)
    # the API behind the list: a page size, and a usage error for a bad one
    api = restarted.base + "/api/v1/dashboard/failures"
    with urllib.request.urlopen(api + "?limit=1", timeout=30) as response:
        assert [r["id"] for r in json.loads(response.read())["results"]] == ids[:1]
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(api + "?limit=many", timeout=30)
    assert bad.value.code == 400
    # the failed run opens from the list
    rows.first.locator("a[href^='#/executions/']").click()
    tab.wait_for_selector("#topology .topo-node[data-task='boom'][data-state='FAILED']")
    # so does a recorded run from the executions list: read from the notes, no 404 logged
    tab.goto(restarted.base + "/#/executions")
    tab.locator("#executions tr[data-source='recorded'] a").first.click()
    tab.wait_for_selector("#recorded-note")


@pytest.fixture
def unscheduled(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"flaky.yml": FLAKY})


def test_the_dashboard_says_when_nothing_failed_or_is_scheduled(unscheduled: Served, tab: Any) -> None:
    tab.goto(unscheduled.base + "/#/dashboard")
    tab.wait_for_selector("#failures-none")
    assert tab.locator("#next-none").count() == 1
    assert tab.evaluate("window.gitflowsCharts.Chart.getChart('chart-durations').data.datasets.length") == 0
