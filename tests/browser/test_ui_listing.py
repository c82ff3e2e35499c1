"""The flows page (grouped by repository and namespace, next cron fire, last-state dots), the
executions list (filters, live and recorded runs merged) and the execution page of a run
known only from the notes history after a restart: real chromium, real `flows serve`."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.events import iso
from runner.triggers.cron import next_fire
from tests.browser.pw import Served, browser, git, page, serve_flows
from tests.conftest import Server
from tests.waiting import CEILING

__all__ = ["browser", "page"]  # fixtures

NIGHTLY = """\
id: nightly
namespace: demo.ops
tasks:
  - id: sweep
    type: io.kestra.plugin.core.log.Log
    message: sweeping
triggers:
  - id: night
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "30 2 * * *"
    timezone: Asia/Tokyo
"""

OK = """\
id: ok
namespace: demo.app
tasks:
  - id: build
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo building; sleep 0.3
      - 'echo ''::{"outputs":{"artifact":"app.tar"}}::'''
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: "built {{ outputs.build.artifact }}"
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: listing-key
"""

BROKEN = """\
id: broken
namespace: demo.app
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: one
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: broken on purpose
"""

FLOWS = {"nightly.yml": NIGHTLY, "ok.yml": OK, "broken.yml": BROKEN}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, FLOWS)


def post(base: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Gitflows-Request": "1"},
    )
    with urllib.request.urlopen(request, timeout=CEILING) as response:
        return json.loads(response.read())


def run(base: str, flow: str) -> str:
    namespace, _, flow_id = flow.rpartition(".")
    done = post(base, f"/api/v1/executions/{namespace}/{flow_id}?wait=true")
    return str(done["id"])


def rows(page: Any, selector: str, attribute: str) -> list[str]:
    return list(page.eval_on_selector_all(selector, f"els => els.map(e => e.dataset.{attribute})"))


def test_flows_page_groups_flows_and_shows_next_fire_and_last_runs(served: Served, page: Any) -> None:
    ok = [run(served.base, "demo.app.ok") for _ in range(2)]
    broken = run(served.base, "demo.app.broken")
    page.goto(served.base + "/#/flows")
    page.wait_for_selector("#flows tr[data-flow='demo.ops.nightly'] .next-fire")

    # grouped by namespace (one repository here), sorted
    assert rows(page, "#flows section.flow-group", "namespace") == ["demo.app", "demo.ops"]
    assert rows(page, "section[data-namespace='demo.app'] tbody tr", "flow") == [
        "demo.app.broken",
        "demo.app.ok",
    ]

    # the next fire time of the Schedule, computed in its time zone
    zone = zoneinfo.ZoneInfo("Asia/Tokyo")
    expected = next_fire("30 2 * * *", zone, dt.datetime.now(dt.UTC))
    fire = page.locator("tr[data-flow='demo.ops.nightly'] .next-fire")
    assert fire.get_attribute("data-next") == iso(expected.astimezone(dt.UTC))
    assert fire.locator(".rel").inner_text().startswith("in ")
    absolute = fire.locator(".abs").inner_text()
    assert "Asia/Tokyo" in absolute and "2:30" in absolute, absolute
    assert "night (Schedule)" in page.inner_text("tr[data-flow='demo.ops.nightly'] .triggers")

    # the last runs as dots, oldest first, linking to the executions
    assert rows(page, "tr[data-flow='demo.app.ok'] .dot", "run") == ok
    assert rows(page, "tr[data-flow='demo.app.ok'] .dot", "state") == ["SUCCESS", "SUCCESS"]
    assert rows(page, "tr[data-flow='demo.app.broken'] .dot", "state") == ["FAILED"]
    assert "no runs yet" in page.inner_text("tr[data-flow='demo.ops.nightly'] .last-runs")
    assert page.locator(f".dot[data-run='{broken}']").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    ) != page.locator(f".dot[data-run='{ok[0]}']").evaluate("e => getComputedStyle(e).backgroundColor")

    # the namespace filter, kept in the address
    page.select_option("#flows-namespace", "demo.ops")
    page.wait_for_function("document.querySelectorAll('#flows tbody tr').length === 1")
    assert rows(page, "#flows tbody tr", "flow") == ["demo.ops.nightly"]
    assert "namespace=demo.ops" in page.evaluate("location.hash")
    page.select_option("#flows-namespace", "demo")  # a parent namespace holds both
    page.wait_for_function("document.querySelectorAll('#flows tbody tr').length === 3")
    page.reload()
    page.wait_for_selector("#flows tr[data-flow='demo.ops.nightly']")
    assert page.input_value("#flows-namespace") == "demo"

    # a dot opens its execution
    page.click(f".dot[data-run='{broken}']")
    page.wait_for_function(f"document.body.dataset.route === 'executions/{broken}'")
    page.wait_for_selector("#exec-state :text('FAILED')")


def test_executions_list_filters(served: Served, page: Any) -> None:
    ok = run(served.base, "demo.app.ok")
    broken = run(served.base, "demo.app.broken")
    nightly = run(served.base, "demo.ops.nightly")
    hooked = post(served.base, "/api/v1/executions/webhook/demo.app/ok/listing-key", {"a": 1})["id"]
    page.goto(served.base + "/#/executions")
    page.wait_for_function(f"document.querySelector(\"tr[data-execution='{hooked}']\")")
    page.wait_for_function("document.querySelectorAll('#executions tbody tr').length === 4")
    shown = rows(page, "#executions tbody tr", "execution")
    assert shown == sorted([ok, broken, nightly, hooked], reverse=True)  # newest first

    def only(expected: list[str]) -> None:
        page.wait_for_function(
            f"JSON.stringify([...document.querySelectorAll('#executions tbody tr')]"
            f".map(r => r.dataset.execution)) === {json.dumps(json.dumps(expected, separators=(',', ':')))}"
        )

    page.select_option("#filter-state", "FAILED")
    only([broken])
    assert "state=FAILED" in page.evaluate("location.hash")
    page.select_option("#filter-state", "")
    page.select_option("#filter-namespace", "demo.ops")
    only([nightly])
    page.select_option("#filter-namespace", "demo")
    page.select_option("#filter-flow", "demo.app.ok")
    only(sorted([ok, hooked], reverse=True))
    page.select_option("#filter-trigger", "webhook")
    only([hooked])
    assert "webhook" in page.inner_text(f"tr[data-execution='{hooked}']")
    page.select_option("#filter-trigger", "")
    page.select_option("#filter-flow", "")
    page.select_option("#filter-namespace", "")
    page.fill("#filter-q", ok[-8:].lower())  # a part of the id, any case
    only([ok])
    page.fill("#filter-q", "")
    only(sorted([ok, broken, nightly, hooked], reverse=True))


def test_a_recorded_run_after_a_restart_has_its_execution_page(tmp_path: Path, page: Any) -> None:
    served = serve_flows(tmp_path, FLOWS)
    first = next(served)
    ok = run(first.base, "demo.app.ok")
    broken = run(first.base, "demo.app.broken")
    next(served, None)  # stops the first server
    again = Server(
        ["--data", str(tmp_path / "data"), "--executor", "process"],
        cwd=first.repo,
        log=tmp_path / "second.log",
    )
    try:
        assert git(first.repo, "notes", "--ref=flows", "list").strip()
        page.goto(again.base + "/#/executions")
        page.wait_for_selector(f"tr[data-execution='{ok}'][data-source='recorded']")
        assert rows(page, "#executions tbody tr", "execution") == [broken, ok]
        page.click(f"tr[data-execution='{ok}'] a")
        page.wait_for_function(f"document.body.dataset.route === 'executions/{ok}'")
        page.wait_for_selector("#recorded-note")
        assert page.inner_text("#exec-state") == "SUCCESS"
        assert rows(page, "#taskruns tbody tr", "task") == ["build", "done"]
        assert "app.tar" in page.inner_text("#taskruns tr[data-task='build']")
        bars = rows(page, "#gantt .gantt-bar", "state")
        assert bars == ["SUCCESS", "SUCCESS"]
        widths = page.eval_on_selector_all(
            "#gantt .gantt-bar", "els => els.map(e => e.getBoundingClientRect().width)"
        )
        assert widths[0] > widths[1], "the shell task took longer than the log task"
        logs = page.inner_text("#logs")  # one group of lines per task
        assert "building" in logs and "built app.tar" in page.inner_text("#logs details[data-task='done']")
        assert page.locator("#kill").count() == 0
        page.screenshot(path=str(tmp_path / "recorded-execution.png"))
        # a recorded run re-runs from its history: a new live execution at the same commit
        page.click("#rerun")
        page.wait_for_function(
            "document.body.dataset.route.startsWith('executions/')"
            f" && document.body.dataset.route !== 'executions/{ok}'"
        )
        page.wait_for_function("document.querySelector('#exec-state')?.innerText === 'SUCCESS'")
        assert page.locator("#recorded-note").count() == 0
        assert rows(page, "#taskruns tbody tr", "task") == ["build", "done"]

        # a plain link (no ?recorded=1): the execution API answers from the notes, and the page
        # shows it as recorded (no kill, no live stream)
        page.goto(f"{again.base}/#/executions/{broken}")
        page.wait_for_function(f"document.body.dataset.route === 'executions/{broken}'")
        page.wait_for_selector("#recorded-note")
        assert page.inner_text("#exec-state") == "FAILED"
        assert "broken on purpose" in page.inner_text("#logs")
        assert rows(page, "#taskruns tbody tr", "task") == ["first", "boom"]

        page.goto(f"{again.base}/#/executions/01NOSUCHRUN0000000000000000")
        page.wait_for_selector("#app .error")
        assert "no recorded run" in page.inner_text("#app .error")
    finally:
        again.stop()
