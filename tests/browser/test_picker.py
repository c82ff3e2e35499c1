"""The visual editor's type picker (issue 18) and the YAML pane sized to the window, in Debian's
chromium under the UI's own CSP with no console errors: search every task or trigger type of
the schema by name, short name and description, read its description and properties, choose
with the keyboard or the mouse; the YAML follows and the graph follows the YAML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, editor_text, serve_flows
from tests.browser.strict import tab

__all__ = ["browser", "tab"]  # fixtures

FLOW = """\
id: picked
namespace: demo
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
"""
COMMANDS = "io.kestra.plugin.scripts.shell.Commands"
SCHEDULE = "io.kestra.plugin.core.trigger.Schedule"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"picked.yml": FLOW})


def _open(tab: Any, served: Served) -> None:
    tab.goto(served.base + "/#/flows/demo/picked")
    tab.wait_for_selector("#graph .node[data-task='hello']")
    tab.wait_for_selector("#diagnostics li.ok")


def _options(tab: Any) -> list[str]:
    return list(tab.eval_on_selector_all("#type-list li", "lis => lis.map(li => li.dataset.type)"))


def _active(tab: Any) -> str:
    return str(tab.get_attribute("#type-list li[aria-selected=true]", "data-type"))


def test_search_read_and_choose_a_task_type_with_the_keyboard(served: Served, tab: Any) -> None:
    from playwright.sync_api import expect

    _open(tab, served)
    tab.click("#graph button.add-task")
    tab.wait_for_selector("dialog#type-picker[open]")
    assert tab.evaluate("document.activeElement.id") == "type-search"
    every = len(_options(tab))
    assert every > 50 and tab.inner_text("#type-count").strip() == f"{every} of {every}"
    # by short name: the short names that start with it first
    tab.fill("#type-search", "comm")
    assert all(t.endswith(".Commands") for t in _options(tab)[:3]) and COMMANDS in _options(tab)
    # by words of the full name, in any order; whole words of the name first
    tab.fill("#type-search", "commands shell")
    assert _options(tab) == [COMMANDS, "io.kestra.plugin.scripts.powershell.Commands"]
    # by description (the type's title): "Log a message in the task logs"
    tab.fill("#type-search", "message in the task logs")
    assert _options(tab) == ["io.kestra.plugin.core.log.Log"]
    tab.fill("#type-search", "no such type at all")
    assert _options(tab) == []
    assert "No type matches" in tab.inner_text("#type-details")
    tab.press("#type-search", "Enter")  # nothing to choose: the picker stays
    assert tab.locator("dialog#type-picker[open]").count() == 1

    tab.fill("#type-search", "commands")
    first, second = _options(tab)[:2]
    assert _active(tab) == first
    tab.press("#type-search", "ArrowDown")
    assert _active(tab) == second
    assert tab.inner_text("#type-details .picker-full") == second
    tab.press("#type-search", "ArrowUp")
    tab.press("#type-search", "ArrowUp")  # stays on the first
    assert _active(tab) == first
    tab.fill("#type-search", "shell commands")
    # the details: what it does, its properties, the required ones marked
    assert "Run shell commands" in tab.inner_text("#type-details .picker-desc")
    expect(tab.locator("#type-details li[data-prop='commands'].required .req")).to_have_count(1)
    expect(tab.locator("#type-details li[data-prop='containerImage']:not(.required)")).to_have_count(1)
    common = "#type-details li[data-prop='id'], #type-details li[data-prop='timeout']"
    expect(tab.locator(common)).to_have_count(0)  # the properties every task has are not listed
    tab.press("#type-search", "Enter")

    tab.wait_for_selector("dialog#type-picker", state="detached")
    tab.wait_for_selector("#graph .node[data-task='commands']")
    added = f"  - id: commands\n    type: {COMMANDS}\n    commands:\n      - \"\"\n"
    assert editor_text(tab) == FLOW + added
    # the new task is selected, the keyboard on its first required property
    tab.wait_for_selector("#task-form[data-task='commands']")
    assert tab.evaluate("document.activeElement.id") == "prop-commands"


def test_escape_closes_the_picker_and_changes_nothing(served: Served, tab: Any) -> None:
    _open(tab, served)
    tab.click("#graph button.add-task")
    tab.fill("#type-search", "log")
    tab.keyboard.press("Escape")
    tab.wait_for_selector("dialog#type-picker", state="detached")
    assert editor_text(tab) == FLOW
    # the mouse chooses too
    tab.click("#graph button.add-task")
    tab.fill("#type-search", "return")
    tab.click("#type-list li[data-type='io.kestra.plugin.core.debug.Return']")
    tab.wait_for_selector("#graph .node[data-task='return']")
    assert "  - id: return\n    type: io.kestra.plugin.core.debug.Return\n" in editor_text(tab)


def test_a_trigger_is_added_from_the_picker_and_follows_the_yaml(served: Served, tab: Any) -> None:
    from playwright.sync_api import expect

    _open(tab, served)
    tab.click("#graph button.add-trigger")
    tab.wait_for_selector("dialog#type-picker[data-kind='trigger'][open]")
    assert all(t in _options(tab) for t in (SCHEDULE, "io.kestra.plugin.core.trigger.Webhook"))
    assert not any(".log." in t for t in _options(tab))  # trigger types only
    tab.fill("#type-search", "cron schedule")  # the Schedule's description names cron
    assert _active(tab) == SCHEDULE
    expect(tab.locator("#type-details li[data-prop='cron'].required")).to_have_count(1)
    tab.press("#type-search", "Enter")
    tab.wait_for_selector("#graph .node.kind-trigger[data-task='schedule']")
    assert editor_text(tab) == FLOW + f"triggers:\n  - id: schedule\n    type: {SCHEDULE}\n    cron: \"\"\n"
    tab.wait_for_selector("#task-form[data-kind='trigger'][data-task='schedule']")
    assert tab.evaluate("document.activeElement.id") == "prop-cron"
    tab.fill("#prop-cron", "0 6 * * *")
    tab.press("#prop-cron", "Tab")
    assert editor_text(tab).endswith('    cron: "0 6 * * *"\n')
    expect(tab.locator("#diagnostics li[data-code]")).to_have_count(0)  # valid once linted
    expect(tab.locator("#diagnostics li.ok")).to_have_count(1)
    # an edit in the YAML shows in the graph
    tab.evaluate("t => window.gitflowsEditor.setText(t)",
                 editor_text(tab).replace("id: schedule", "id: morning"))
    tab.wait_for_selector("#graph .node.kind-trigger[data-task='morning']")


def test_the_yaml_pane_fills_the_window_and_follows_its_size(served: Served, tab: Any) -> None:
    _open(tab, served)

    def fit() -> dict[str, float]:
        return dict(tab.evaluate("""() => {
            const box = document.querySelector('#editor').getBoundingClientRect();
            const scroller = document.querySelector('#editor .cm-scroller');
            return { top: box.top, bottom: box.bottom, window: innerHeight,
                     diagnostics: document.querySelector('#diagnostics').getBoundingClientRect().bottom,
                     scrolls: scroller.scrollHeight > scroller.clientHeight,
                     page: document.documentElement.scrollHeight };
        }"""))

    for height in (900, 640, 1100):
        tab.set_viewport_size({"width": 1440, "height": height})
        tab.wait_for_function(f"innerHeight === {height}")
        got = fit()
        # it reaches to the window's bottom less the room of the first diagnostics, no further
        assert got["window"] - 160 < got["bottom"] and got["diagnostics"] <= got["window"], got
        assert got["page"] <= got["window"], got  # the page itself does not scroll: one scrollbar
    # a long flow scrolls inside the editor: the box keeps its height
    before = fit()
    long = FLOW + "".join(f"  - id: t{i}\n    type: io.kestra.plugin.core.log.Log\n    message: m\n"
                          for i in range(80))
    tab.evaluate("t => window.gitflowsEditor.setText(t)", long)
    tab.wait_for_selector("#graph .node[data-task='t79']")
    after = fit()
    assert after["scrolls"] and after["bottom"] == before["bottom"]
