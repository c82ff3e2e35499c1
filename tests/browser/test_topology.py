"""The topology as a graph (issue 18): a Dag's dependsOn edges, If/Switch branches as labelled
edges, ForEach/Parallel/Dag groups drawn round their tasks, triggers as nodes, and the task
states painted live while a run moves on, in a real chromium under the UI's CSP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, serve_flows
from tests.browser.strict import tab

__all__ = ["browser", "tab"]  # fixtures

SHAPES = """\
id: shapes
namespace: demo
inputs:
  - id: gate
    type: STRING
tasks:
  - id: plan
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task:
          id: fetch
          type: io.kestra.plugin.core.debug.Return
          format: f
      - task:
          id: parse
          type: io.kestra.plugin.scripts.shell.Commands
          taskRunner:
            type: io.kestra.plugin.core.runner.Process
          commands:
            - while [ ! -e '{{ inputs.gate }}' ]; do sleep 0.05; done
        dependsOn: [fetch]
      - task:
          id: lint
          type: io.kestra.plugin.core.debug.Return
          format: l
        dependsOn: [fetch]
      - task:
          id: report
          type: io.kestra.plugin.core.debug.Return
          format: r
        dependsOn: [parse, lint]
  - id: gate
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.gate != '' }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: "yes"
    else:
      - id: no
        type: io.kestra.plugin.core.log.Log
        message: "no"
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [a, b]
    tasks:
      - id: say
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""

ROUTED = """\
id: routed
namespace: demo
tasks:
  - id: pick
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ 'b' }}"
    cases:
      a:
        - id: on_a
          type: io.kestra.plugin.core.log.Log
          message: a
      b:
        - id: on_b
          type: io.kestra.plugin.core.log.Log
          message: b
    defaults:
      - id: other
        type: io.kestra.plugin.core.log.Log
        message: other
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: failed
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: bye
"""

EDGES = {("trigger:nightly", "plan"), ("plan", "fetch"), ("fetch", "parse"), ("fetch", "lint"),
         ("parse", "report"), ("lint", "report"), ("report", "gate"), ("gate", "yes"), ("gate", "no"),
         ("yes", "each"), ("no", "each"), ("each", "say")}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"shapes.yml": SHAPES, "routed.yml": ROUTED})


def _edges(tab: Any, root: str) -> dict[tuple[str, str], dict[str, str | None]]:
    return {(e.get_attribute("data-from"), e.get_attribute("data-to")):
            {"label": e.get_attribute("data-label"), "class": e.get_attribute("class")}
            for e in tab.locator(f"{root} path.topo-edge").all()}


def _inside(tab: Any, root: str, group: str, tasks: list[str]) -> bool:
    outer = tab.locator(f"{root} .topo-group[data-group='{group}'] rect").bounding_box()
    for task in tasks:
        inner = tab.locator(f"{root} .topo-node[data-task='{task}'] rect").bounding_box()
        across = outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
        down = outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
        if not (across and down):
            return False
    return True


def _check_shape(tab: Any, root: str) -> None:
    edges = _edges(tab, root)
    assert set(edges) == EDGES
    # dependsOn edges are drawn as such; the If's branches carry their names
    for dep in [("fetch", "parse"), ("fetch", "lint"), ("parse", "report"), ("lint", "report")]:
        assert "topo-dep" in str(edges[dep]["class"]), dep
    assert "topo-dep" not in str(edges[("plan", "fetch")]["class"])
    assert edges[("gate", "yes")]["label"] == "then" and edges[("gate", "no")]["label"] == "else"
    labels = {t.text_content() for t in tab.locator(f"{root} .topo-edge-label").all()}
    assert labels == {"then", "else"}
    assert tab.locator(f"{root} .topo-trigger[data-trigger='nightly']").count() == 1
    assert _inside(tab, root, "plan", ["plan", "fetch", "parse", "lint", "report"])
    assert _inside(tab, root, "gate", ["gate", "yes", "no"]) and _inside(tab, root, "each", ["each", "say"])
    assert not _inside(tab, root, "plan", ["gate"])
    box = {t: tab.locator(f"{root} .topo-node[data-task='{t}']").bounding_box()
           for t in ("fetch", "parse", "lint", "report")}
    # left to right along the dependencies; parse and lint side by side
    assert box["fetch"]["x"] < box["parse"]["x"] == box["lint"]["x"] < box["report"]["x"]
    assert box["parse"]["y"] != box["lint"]["y"]


def test_the_flow_page_draws_dag_edges_branches_groups_and_triggers(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows/demo/shapes")
    tab.wait_for_selector("#graph .node[data-task='say']")
    tab.click("#view-topology")
    tab.wait_for_selector("#flow-topology .topo-node[data-task='say']")
    _check_shape(tab, "#flow-topology")
    assert {n.get_attribute("data-state") for n in tab.locator("#flow-topology .topo-node").all()} == {"PLAN"}


def test_a_live_run_paints_the_graph_as_it_moves_on(served: Served, tab: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    gate = tmp_path / "gate"
    tab.goto(served.base + "/#/flows/demo/shapes")
    tab.fill("#input-gate", str(gate))
    tab.click("#run-button")

    def node(task: str) -> Any:
        return tab.locator(f"#topology .topo-node[data-task='{task}']")

    expect(node("parse")).to_have_attribute("data-state", "RUNNING")
    expect(node("lint")).to_have_attribute("data-state", "SUCCESS")
    # report waits on parse: not run yet, drawn so, while the run goes on
    assert node("report").get_attribute("data-state") == "NOT_RUN"
    assert "topo-RUNNING" in (node("parse").get_attribute("class") or "")
    _check_shape(tab, "#topology")
    gate.touch()
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    expect(node("say")).to_have_attribute("data-state", "SUCCESS")
    for task in ("fetch", "parse", "lint", "report", "plan", "gate", "yes", "each"):
        assert node(task).get_attribute("data-state") == "SUCCESS", task
    assert node("no").get_attribute("data-state") == "NOT_RUN"  # the branch not taken


def test_switch_cases_are_labelled_and_errors_and_finally_are_sections(served: Served, tab: Any) -> None:
    tab.goto(served.base + "/#/flows/demo/routed")
    tab.click("#view-topology")
    tab.wait_for_selector("#flow-topology .topo-node[data-task='cleanup']")
    edges = _edges(tab, "#flow-topology")
    assert {e: v["label"] for e, v in edges.items()} == {
        ("pick", "on_a"): "a", ("pick", "on_b"): "b", ("pick", "other"): "defaults",
        ("on_a", "cleanup"): None, ("on_b", "cleanup"): None, ("other", "cleanup"): None}
    # errors run only on a failure: a section of their own, reached by no edge
    assert _inside(tab, "#flow-topology", "errors", ["alert"])
    assert _inside(tab, "#flow-topology", "finally", ["cleanup"])
    assert tab.locator("#flow-topology .topo-trigger").count() == 0
    # the execution page draws the server's outline the same way, the case taken painted
    tab.click("#run-button")
    tab.wait_for_selector("#exec-state .state-SUCCESS")
    tab.wait_for_selector("#topology .topo-node[data-task='cleanup'][data-state='SUCCESS']")
    drawn = _edges(tab, "#topology")
    assert {e: v["label"] for e, v in drawn.items()} == {e: v["label"] for e, v in edges.items()}
    states = {n.get_attribute("data-task"): n.get_attribute("data-state")
              for n in tab.locator("#topology .topo-node").all()}
    assert states == {"pick": "SUCCESS", "on_a": "NOT_RUN", "on_b": "SUCCESS", "other": "NOT_RUN",
                      "alert": "NOT_RUN", "cleanup": "SUCCESS"}
