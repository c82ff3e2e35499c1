"""The flow editor in a real chromium (Playwright) against a real `flows serve`: the visual
editor and the YAML editor kept in step, comments kept, completion, diagnostics, saving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import Served, browser, editor_text, git, page, pick_type, serve_flows

__all__ = ["browser", "page"]  # fixtures

EDIT = """\
# Greets, then branches: this comment must survive visual edits
id: edit
namespace: demo
tasks:
  # first say hello
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello   # a trailing comment

  - id: branch
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: inner
        type: io.kestra.plugin.core.debug.Return
        format: 'x'
  - id: bye
    type: io.kestra.plugin.core.log.Log
    message: bye
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve_flows(tmp_path, {"edit.yml": EDIT})


def _open(page: Any, served: Served) -> None:
    page.goto(served.base + "/#/flows/demo/edit")
    page.wait_for_selector("#graph .node[data-task='bye']")
    page.wait_for_selector("#diagnostics li.ok")


def _graph_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#graph .node", "nodes => nodes.map(n => n.dataset.task)"))


def test_the_graph_shows_the_flow_with_nesting(served: Served, page: Any) -> None:
    _open(page, served)
    assert _graph_ids(page) == ["hello", "branch", "inner", "bye"]
    # `inner` sits inside the If's `then` branch
    inner = ".node[data-task='branch'] .branch[data-branch='then'] .node[data-task='inner']"
    assert page.locator(inner).count() == 1
    assert editor_text(page) == EDIT
    assert "first say hello" in page.inner_text(".cm-content")


def test_a_form_edit_shows_in_the_yaml_and_comments_survive(served: Served, page: Any) -> None:
    _open(page, served)
    page.click("#graph .node[data-task='bye'] .node-head")
    page.wait_for_selector("#task-form[data-task='bye']")
    page.fill("#prop-message", "goodbye, world")
    page.press("#prop-message", "Tab")  # change event
    page.wait_for_function("window.gitflowsEditor.getText().includes('goodbye, world')")
    # only the edited line changed: comments, the blank line and the quoting stay as written
    assert editor_text(page) == EDIT.replace("    message: bye\n", "    message: goodbye, world\n")
    page.wait_for_selector(".cm-content :text('goodbye, world')")
    # an enum and a boolean from the type's schema
    page.click("#graph .node[data-task='hello'] .node-head")
    page.wait_for_selector("#task-form[data-task='hello']")
    page.select_option("#prop-level", "WARN")
    page.click("#task-form summary")
    page.select_option("#prop-allowFailure", "true")
    page.wait_for_function("window.gitflowsEditor.getText().includes('allowFailure: true')")
    text = editor_text(page)
    assert "    message: hello   # a trailing comment\n    level: WARN\n    allowFailure: true\n" in text
    assert text.startswith("# Greets, then branches: this comment must survive visual edits\n")
    assert "  # first say hello\n" in text


def test_a_yaml_edit_shows_in_the_graph_and_a_parse_error_keeps_it(served: Served, page: Any) -> None:
    _open(page, served)
    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("  - id: added\n    type: io.kestra.plugin.core.debug.Return\n"
                              "    format: new\n")
    page.wait_for_selector("#graph .node[data-task='added']")
    assert _graph_ids(page) == ["hello", "branch", "inner", "bye", "added"]
    assert page.inner_text(".node[data-task='added'] .node-type") == "Return"
    # a broken YAML: the error shows, the graph stays as it was
    page.keyboard.insert_text("  - id: [broken\n")
    page.wait_for_selector("#graph-error:not([hidden])")
    assert "YAML error" in page.inner_text("#graph-error")
    assert _graph_ids(page) == ["hello", "branch", "inner", "bye", "added"]
    page.keyboard.press("Backspace")
    page.keyboard.press("Shift+Home")
    page.keyboard.press("Backspace")
    page.wait_for_selector("#graph-error[hidden]", state="attached")


def test_add_move_and_remove_tasks_in_the_graph_update_the_yaml(served: Served, page: Any) -> None:
    _open(page, served)
    page.on("dialog", lambda dialog: dialog.accept())
    # add a Log at the end of the If's `then` branch
    page.click(".node[data-task='branch'] .branch[data-branch='then'] > .tasklist > button.add-task")
    pick_type(page, "log", "io.kestra.plugin.core.log.Log")
    page.wait_for_selector(".branch[data-branch='then'] .node[data-task='log']")
    added = '      - id: log\n        type: io.kestra.plugin.core.log.Log\n        message: ""\n'
    assert added in editor_text(page)
    page.wait_for_selector("#task-form[data-task='log']")  # the new task is selected for editing
    page.fill("#prop-message", "added in the graph")
    page.press("#prop-message", "Tab")
    page.wait_for_function("window.gitflowsEditor.getText().includes('message: added in the graph')")

    # move `bye` up above `branch`
    page.hover(".node[data-task='bye'] > .node-head")
    page.click(".node[data-task='bye'] > .node-head .move-up")
    page.wait_for_function("""(() => { const t = window.gitflowsEditor.getText();
        return t.indexOf('- id: bye') < t.indexOf('- id: branch'); })()""")
    assert _graph_ids(page) == ["hello", "bye", "branch", "inner", "log"]
    # drag `hello` onto `branch`: it moves before it
    page.drag_and_drop(".node[data-task='hello'] > .node-head", ".node[data-task='branch'] > .node-head")
    page.wait_for_function("""(() => { const t = window.gitflowsEditor.getText();
        return t.indexOf('- id: bye') < t.indexOf('- id: hello'); })()""")
    assert _graph_ids(page)[:3] == ["bye", "hello", "branch"]

    # remove `inner` (after the confirm dialog)
    page.hover(".node[data-task='inner'] > .node-head")
    page.click(".node[data-task='inner'] > .node-head .remove")
    page.wait_for_function("!window.gitflowsEditor.getText().includes('id: inner')")
    assert page.locator(".node[data-task='inner']").count() == 0
    text = editor_text(page)
    assert text.startswith("# Greets, then branches: this comment must survive visual edits\n")
    assert "message: hello   # a trailing comment" in text
    page.wait_for_selector("#diagnostics li.ok")  # still a valid flow


def test_completion_of_types_and_properties_and_inline_diagnostics(served: Served, page: Any) -> None:
    _open(page, served)
    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.insert_text("  - id: later\n    type: io.kestra.plugin.core.flow.Sle")
    page.keyboard.press("Control+Space")
    page.click(".cm-tooltip-autocomplete li:has-text('io.kestra.plugin.core.flow.Sleep')")
    page.wait_for_function("window.gitflowsEditor.getText().endsWith('io.kestra.plugin.core.flow.Sleep')")
    page.keyboard.insert_text("\n    dur")
    page.keyboard.press("Control+Space")
    page.click(".cm-tooltip-autocomplete li:has-text('duration')")
    page.keyboard.insert_text("PT1S\n")
    page.wait_for_function("window.gitflowsEditor.getText().endsWith('duration: PT1S\\n')")
    page.wait_for_selector("#graph .node[data-task='later']")
    # a misspelt property: the server's diagnostic marks the line in the editor
    page.keyboard.insert_text("    colour: red\n")
    page.wait_for_selector("#diagnostics li[data-code='unknown-property']")
    page.wait_for_selector(".cm-lintRange-error, .cm-lintRange-warning")
    page.wait_for_selector(".cm-gutter-lint .cm-lint-marker")


def test_save_commits_the_edit_to_the_branch(served: Served, page: Any) -> None:
    """Needs the editing backend (PUT /api/v1/flows/<ns>/<id>/source)."""
    _open(page, served)
    before = git(served.repo, "rev-parse", "main").strip()
    page.click("#graph .node[data-task='bye'] .node-head")
    page.fill("#prop-message", "saved from the browser")
    page.press("#prop-message", "Tab")
    page.wait_for_function("window.gitflowsEditor.getText().includes('saved from the browser')")
    page.fill("#save-message", "Say goodbye differently")
    page.click("#save-button")
    page.wait_for_selector("#saved")
    after = git(served.repo, "rev-parse", "main").strip()
    assert after != before
    assert git(served.repo, "log", "-1", "--format=%s", "main").strip() == "Say goodbye differently"
    assert git(served.repo, "rev-parse", "main~1").strip() == before
    committed = git(served.repo, "show", "main:.flows/edit.yml")
    assert committed == EDIT.replace("message: bye\n", "message: saved from the browser\n")
    assert after[:10] in page.inner_text("#saved")


def test_save_after_someone_else_pushed_offers_theirs_or_mine(served: Served, page: Any) -> None:
    """Needs the editing backend: a 409 answer when the branch moved since the page loaded."""
    _open(page, served)
    theirs = EDIT.replace("message: hello", "message: hello from them")
    work = served.repo
    (work / ".flows" / "edit.yml").write_text(theirs)
    git(work, "-c", "user.name=o", "-c", "user.email=o@example.invalid", "commit", "-qam", "theirs")
    head = git(work, "rev-parse", "main").strip()

    page.click("#graph .node[data-task='bye'] .node-head")
    page.fill("#prop-message", "mine")
    page.press("#prop-message", "Tab")
    page.wait_for_function("window.gitflowsEditor.getText().includes('message: mine')")
    page.click("#save-button")
    page.wait_for_selector("#conflict:not([hidden])")
    assert "hello from them" in page.inner_text("#theirs")
    page.click("#overwrite-mine")
    page.wait_for_selector("#saved")
    assert git(work, "rev-parse", "main~1").strip() == head
    assert "message: mine" in git(work, "show", "main:.flows/edit.yml")


def test_create_a_flow_then_delete_it(served: Served, page: Any) -> None:
    """Needs the editing backend (POST /api/v1/flows, DELETE /api/v1/flows/<ns>/<id>)."""
    page.goto(served.base + "/#/flows")
    page.wait_for_selector("#flows tr[data-flow='demo.edit']")
    page.click("#new-flow-button")
    assert page.input_value("#new-branch") == "main"
    page.fill("#new-namespace", "demo.made")
    page.fill("#new-id", "fresh")
    page.click("#new-create")
    page.wait_for_function("document.body.dataset.route === 'flows/demo.made/fresh'")
    page.wait_for_selector("#graph .node[data-task='hello']")
    assert "namespace: demo.made" in git(served.repo, "show", "main:.flows/fresh.yml")
    assert git(served.repo, "log", "-1", "--format=%s", "main").strip() == "Add flow demo.made.fresh"

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#delete-button")
    page.wait_for_function("document.body.dataset.route === 'flows'")
    assert ".flows/fresh.yml" not in git(served.repo, "ls-tree", "-r", "--name-only", "main")
    page.wait_for_selector("#flows tr[data-flow='demo.edit']")
    assert page.locator("#flows tr[data-flow='demo.made.fresh']").count() == 0


def test_a_save_with_errors_shows_them_and_commits_nothing(served: Served, page: Any) -> None:
    """Needs the editing backend: 422 with the diagnostics of `flows validate`."""
    _open(page, served)
    before = git(served.repo, "rev-parse", "main").strip()
    page.evaluate("window.gitflowsEditor.setText(window.gitflowsEditor.getText()"
                  ".replace('message: bye', 'mesage: bye'))")
    page.click("#save-button")
    page.wait_for_selector("#save-status li[data-code='unknown-property']")
    assert "error" in page.inner_text("#save-status")
    assert git(served.repo, "rev-parse", "main").strip() == before
