"""A new user's first hour (issue 18), each journey in a real chromium under the UI's own CSP
against a real `flows serve`, with no console error: open and fix a flow that does not parse,
create a flow, save to a new branch and run it with its new inputs right away, watch the live
run, re-run, find the UI run in the history by branch; empty pages say what to do next."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, editor_text, git, pick_type, serve_flows
from tests.browser.strict import tab

__all__ = ["browser", "tab"]  # fixtures

BROKEN = """\
id: broken
namespace: demo
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    mesage: hello
"""

PLAIN = """\
id: plain
namespace: demo
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
"""

WITH_INPUTS = """\
id: plain
namespace: demo
inputs:
  - id: who
    type: STRING
    defaults: world
  - id: times
    type: INT
    defaults: 1
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }} x{{ inputs.times }}"
"""

CHATTY = """\
id: chatty
namespace: demo
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: [alpha one, alpha two]
  - id: careful
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: beta careful
"""

BRANCHY = """\
id: branchy
namespace: demo
tasks:
  - id: start
    type: io.kestra.plugin.core.log.Log
    message: go
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.debug.Return
        format: l
      - id: right
        type: io.kestra.plugin.core.debug.Return
        format: r
  - id: finish
    type: io.kestra.plugin.core.log.Log
    message: done
"""

GATED = """\
id: gated
namespace: demo
inputs:
  - id: gate
    type: STRING
tasks:
  - id: wait
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo first line
      - while [ ! -e '{{ inputs.gate }}' ]; do sleep 0.05; done
      - echo second line
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"broken.yml": BROKEN, "plain.yml": PLAIN, "chatty.yml": CHATTY,
                                      "branchy.yml": BRANCHY, "gated.yml": GATED})


def _set_text(page: Any, text: str) -> None:
    page.evaluate("text => window.gitflowsEditor.setText(text)", text)


def _hash(page: Any) -> str:
    return str(page.evaluate("location.hash"))


def test_a_flow_that_does_not_parse_opens_shows_why_and_saves_fixed(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows")
    row = tab.locator("tr[data-flow='.flows/broken.yml']")
    # the list says what is wrong, and links to the file
    assert "mesage" in row.locator(".row-diagnostics").inner_text()
    row.locator("a.open-file").click()
    tab.wait_for_selector("#diagnostics li.error")
    assert "mesage" in tab.inner_text("#diagnostics")
    assert editor_text(tab) == BROKEN
    assert "demo.broken" in tab.inner_text("h1")
    _set_text(tab, BROKEN.replace("mesage", "message"))
    tab.wait_for_selector("#diagnostics li.ok")
    tab.click("#save-button")
    # saved on main, then opened as the flow it now is, ready to run
    tab.wait_for_url(lambda url: "#/flows/demo/broken?" in url)
    tab.wait_for_selector("#run-form #run-button")
    assert git(served.repo, "show", "main:.flows/broken.yml") == BROKEN.replace("mesage", "message")
    assert tab.locator("tr[data-flow='.flows/broken.yml']").count() == 0


def test_create_checks_the_form_and_lands_on_the_new_flow_then_delete_returns(
        served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows")
    tab.click("#new-flow-button")
    tab.fill("#new-namespace", "Not A Namespace")
    tab.fill("#new-id", "fresh")
    # the form's own pattern check works (Chromium compiles it with the v flag)
    assert tab.locator("#new-namespace:invalid").count() == 1
    assert tab.locator("#new-id:valid").count() == 1
    tab.fill("#new-namespace", "demo.made")
    tab.click("#new-create")
    tab.wait_for_selector("#flow-meta")
    assert _hash(tab).startswith("#/flows/demo.made/fresh?")
    head = git(served.repo, "rev-parse", "main").strip()
    assert head[:10] in tab.inner_text("#flow-meta")
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.click("#delete-button")
    tab.wait_for_selector("#flows tr[data-flow='demo.plain']")
    assert _hash(tab) == "#/flows"
    assert tab.locator("tr[data-flow='demo.made.fresh']").count() == 0


def test_save_to_a_new_branch_then_run_with_the_new_inputs_and_find_it_by_branch(
        served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows/demo/plain")
    tab.wait_for_selector("#diagnostics li.ok")
    assert tab.locator("#run-form [name]").count() == 0
    _set_text(tab, WITH_INPUTS)
    tab.wait_for_selector("#diagnostics li.ok")
    tab.fill("#save-new-branch", "feature/inputs")
    tab.click("#save-button")
    tab.wait_for_selector("#saved")
    saved = git(served.repo, "rev-parse", "feature/inputs").strip()
    # the header, the address and the run form follow the save
    tab.wait_for_selector(f"#flow-meta code[title='{saved}']")
    assert "feature/inputs" in tab.inner_text("#flow-meta")
    assert "ref=feature%2Finputs" in _hash(tab)
    tab.wait_for_selector("#run-form #input-who")
    assert tab.input_value("#input-times") == "1"
    assert "take their defaults" in tab.inner_text("#run-form")
    tab.fill("#input-who", "first hour")
    tab.click("#run-button")
    # the live page: inputs, trigger, branch, the commit and a link back to the flow
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    origin = tab.inner_text("#exec-origin")
    assert "manual" in origin and "feature/inputs" in origin and saved[:10] in origin
    assert "first hour" in tab.inner_text("#exec-inputs")
    assert "hello first hour x1" in tab.inner_text("#logs")
    run = _hash(tab).removeprefix("#/executions/")
    flow_link = tab.locator("#exec-origin a.flow-link")
    assert "ref=" + saved in str(flow_link.get_attribute("href"))
    # re-run: a new execution of the same commit, inputs and branch
    tab.click("#rerun")
    tab.wait_for_url(lambda url: "#/executions/" in url and not url.endswith(run))
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    assert "first hour" in tab.inner_text("#exec-inputs")
    # the history by branch finds the UI run
    tab.goto(served.base + "/#/history?ref=feature/inputs")
    tab.wait_for_selector(f"#history tr[data-run='{run}']")
    assert "feature/inputs" in tab.inner_text(f"#history tr[data-run='{run}']")
    tab.goto(served.base + "/#/executions")
    tab.wait_for_selector(f"#executions tr[data-execution='{run}']")
    assert "feature/inputs" in tab.inner_text(f"#executions tr[data-execution='{run}']")
    # a reload of the flow page keeps the branch and the saved text
    tab.goto(served.base + "/#/flows/demo/plain?repo=repo&ref=feature%2Finputs")
    tab.reload()
    tab.wait_for_selector("#run-form #input-who")
    assert editor_text(tab) == WITH_INPUTS


def test_the_execution_page_groups_logs_by_task_with_search_and_level(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows/demo/chatty")
    tab.click("#run-button")
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    tab.wait_for_selector("#logs details.task-log[data-task='careful'] .log-line")
    first = tab.locator("#logs details.task-log[data-task='first']")
    assert "alpha one" in first.inner_text() and "alpha two" in first.inner_text()
    assert "beta" not in first.inner_text()
    tab.wait_for_selector("#logs details[data-task='first'] summary .state-SUCCESS")
    lines = tab.locator("#logs .log-line:visible")
    everything = lines.count()
    tab.fill("#log-search", "beta")
    tab.wait_for_selector("#log-count:has-text('1 of')")
    assert lines.count() == 1 and "beta careful" in lines.first.inner_text()
    tab.fill("#log-search", "")
    tab.select_option("#log-level", "WARN")
    tab.wait_for_selector("#logs details[data-task='first'] .log-line", state="hidden")
    assert {lines.nth(i).get_attribute("data-level") for i in range(lines.count())} <= {"WARN", "ERROR"}
    assert 0 < lines.count() < everything
    tab.select_option("#log-level", "TRACE")
    tab.click("#logs details[data-task='first'] summary")  # collapse one task's lines
    assert first.evaluate("d => d.open") is False
    assert "alpha one" not in tab.inner_text("#logs")


def test_the_execution_page_draws_the_topology_coloured_by_state(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows/demo/branchy")
    tab.click("#run-button")
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    tab.wait_for_selector("#topology .topo-node[data-task='finish'][data-state='SUCCESS']")
    edges = {(e.get_attribute("data-from"), e.get_attribute("data-to"))
             for e in tab.locator("#topology .topo-edge").all()}
    assert edges == {("start", "both"), ("both", "left"), ("both", "right"), ("left", "finish"),
                     ("right", "finish")}
    box = {task: tab.locator(f"#topology .topo-node[data-task='{task}']").bounding_box()
           for task in ("start", "both", "left", "right", "finish")}
    # left to right by rank; the parallel branches side by side in one rank
    assert box["start"]["x"] < box["both"]["x"] < box["left"]["x"] < box["finish"]["x"]
    assert box["left"]["x"] == box["right"]["x"] and box["left"]["y"] != box["right"]["y"]
    states = {n.get_attribute("data-state") for n in tab.locator("#topology .topo-node").all()}
    assert states == {"SUCCESS"}


def test_the_dashboard_counts_the_runs_and_charts_them(served: Served, tab: Any) -> None:
    for flow in ("plain", "chatty"):
        status, body = _call(f"{served.base}/api/v1/executions/demo/{flow}?wait=true", "POST")
        assert status == 200 and body["state"]["current"] == "SUCCESS"
    tab.goto(served.base + "/#/dashboard")
    tab.wait_for_selector("#tile-total .tile-value:text-is('2')")
    assert tab.inner_text("#tile-rate .tile-value") == "100%"
    assert tab.locator("#failing-none").count() == 1 and tab.locator("#dashboard-empty").is_hidden()
    # chart.js drew on both canvases (they have a size and pixels)
    for canvas in ("#chart-days", "#chart-states"):
        assert tab.locator(canvas).bounding_box()["width"] > 100
    drawn = tab.evaluate("""() => { const c = document.getElementById('chart-days');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return px.some((v, i) => i % 4 === 3 && v > 0); }""")
    assert drawn


def test_a_live_run_streams_its_task_log_with_a_running_timer(served: Served, tab: Any,
                                                              tmp_path: Path) -> None:
    from playwright.sync_api import expect

    gate = tmp_path / "gate"
    tab.goto(served.base + "/#/flows/demo/gated")
    tab.fill("#input-gate", str(gate))
    tab.click("#run-button")
    group = tab.locator("#logs details.task-log[data-task='wait']")
    expect(group.locator(".log-line")).to_contain_text("first line")
    expect(tab.locator("#exec-state .state-RUNNING")).to_have_count(1)
    timer = group.locator(".timer.running")
    shown = timer.inner_text()
    expect(timer).not_to_have_text(shown)  # it moves on while the task runs
    assert "second line" not in group.inner_text() and tab.locator("#kill").count() == 1
    gate.touch()
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    expect(group.locator(".log-line").last).to_contain_text("second line")
    expect(group.locator(".timer.running")).to_have_count(0)
    expect(tab.locator("#topology .topo-node[data-task='wait']")).to_have_attribute("data-state", "SUCCESS")


def test_the_flow_page_shows_the_flow_as_a_graph_that_follows_the_yaml(served: Served, tab: Any) -> None:
    from playwright.sync_api import expect

    tab.goto(served.base + "/#/flows/demo/branchy")
    tab.wait_for_selector("#graph .node[data-task='finish']")
    tab.click("#view-topology")
    nodes = tab.locator("#flow-topology .topo-node")
    expect(nodes).to_have_count(5)
    assert tab.locator("#graph").is_hidden()
    _set_text(tab, BRANCHY + "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: later\n")
    expect(nodes).to_have_count(6)
    edge = tab.locator("#flow-topology .topo-edge[data-from='finish'][data-to='after']")
    expect(edge).to_have_count(1)
    tab.click("#view-edit")
    tab.wait_for_selector("#graph .node[data-task='after']")
    assert tab.locator("#flow-topology").is_hidden()


def test_adding_a_commands_task_visually_writes_a_list(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows/demo/plain")
    tab.wait_for_selector("#graph .node[data-task='hello']")
    tab.locator("#graph button.add-task").last.click()
    pick_type(tab, "shell commands", "io.kestra.plugin.scripts.shell.Commands")
    tab.wait_for_selector("#graph .node[data-task='commands']")
    text = editor_text(tab)
    assert 'commands: ""' not in text
    assert "    commands:\n      - " in text


def test_empty_pages_say_what_to_do_next_and_the_favicon_is_served(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/executions")
    tab.wait_for_selector("#executions-empty")
    assert tab.locator("#executions-empty a[href='#/flows']").count() == 1
    tab.goto(served.base + "/#/history")
    tab.wait_for_selector("#history-empty")
    assert tab.locator("#history-empty a[href='#/flows']").count() == 1
    tab.goto(served.base + "/#/dashboard")
    tab.wait_for_selector("#dashboard-empty a[href='#/flows']")
    assert tab.inner_text("#tile-total").startswith("0")
    with urllib.request.urlopen(served.base + "/favicon.ico", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert b"<svg" in response.read()


def test_the_dark_theme_follows_the_os_setting(served: Served, browser: Any) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        page.goto(served.base + "/#/flows")
        page.wait_for_selector("#flows tr[data-flow='demo.plain']")
        colours[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        context.close()
    assert colours["light"] == "rgb(255, 255, 255)"
    assert colours["dark"] != colours["light"]


def _call(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=b"{}" if method == "POST" else None, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_run_names_only_a_branch_that_holds_its_commit(served: Served) -> None:
    head = git(served.repo, "rev-parse", "main").strip()
    # without ?branch=, the branch ?ref= names or the one checked out is the run's
    for query in ("", "&ref=main"):
        status, body = _call(f"{served.base}/api/v1/executions/demo/plain?wait=true{query}", "POST")
        assert status == 200 and body["trigger"]["ref"] == "main"
    status, body = _call(f"{served.base}/api/v1/executions/demo/plain?wait=true&ref={head}", "POST")
    assert status == 200 and body["trigger"]["ref"] is None  # a bare commit names no branch
    git(served.repo, "checkout", "-q", "-b", "side")
    git(served.repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid",
        "commit", "-q", "--allow-empty", "-m", "side only")
    side = git(served.repo, "rev-parse", "side").strip()
    start = served.base + "/api/v1/executions/demo/plain?wait=true&ref="
    status, body = _call(f"{start}{head}&branch=main", "POST")
    assert status == 200 and body["trigger"] == {"repo": "repo", "commit": head, "ref": "main",
                                                 "type": "manual"}
    status, body = _call(f"{start}{side}&branch=main", "POST")  # not a commit of main
    assert status == 422 and "not a commit of branch main" in body["message"]
    status, body = _call(f"{start}{head}&branch=nowhere", "POST")
    assert status == 404
    status, body = _call(f"{start}{side}&branch=side", "POST")
    assert status == 200 and body["trigger"]["ref"] == "side"
    # the file route opens a flow that does not parse, with what it names and why it fails
    status, body = _call(served.base + "/api/v1/flows/source?file=.flows/broken.yml")
    assert status == 200 and body["flow"] is None and (body["namespace"], body["id"]) == ("demo", "broken")
    assert body["source"] == BROKEN and any("mesage" in d["message"] for d in body["diagnostics"])
    assert _call(served.base + "/api/v1/flows/source?file=.flows/none.yml")[0] == 404
    # and deleted by its path (its names are not needed)
    request = urllib.request.Request(
        f"{served.base}/api/v1/flows/-/-?branch=side&base={side}&file=.flows/broken.yml",
        method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    assert "broken.yml" not in git(served.repo, "ls-tree", "--name-only", "side", ".flows/")
    assert "Delete .flows/broken.yml" in git(served.repo, "log", "-1", "--format=%s", "side")
    # a file that parses is not deleted by its path under another name
    request = urllib.request.Request(
        f"{served.base}/api/v1/flows/demo/nothing?branch=main&base={head}&file=.flows/plain.yml",
        method="DELETE")
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("deleted a flow under another name")
    except urllib.error.HTTPError as err:
        assert err.code == 404
