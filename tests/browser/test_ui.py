"""The web UI in a real headless Debian chromium, driven over the DevTools Protocol,
against a real `flows serve` process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.cdp import CHROMIUM, Page, chromium
from tests.browser.conftest import GREET, get_json
from tests.waiting import Gate


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium, or scripts/setup test-env)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}; CI=true: the browser tests fail rather than skip")
        pytest.skip(message)
    (tmp_path / "profile").mkdir()
    with chromium(tmp_path / "profile") as tab:
        tab.send("Page.enable")
        tab.send("Runtime.enable")
        yield tab


def _text(page: Page, selector: str) -> str:
    return str(page.js(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''"))


def test_flows_editor_run_and_live_execution(served: str, gate: Gate, page: Page, tmp_path: Path) -> None:
    page.goto(served + "/#/flows")
    page.wait("document.querySelectorAll('#flows tbody tr').length === 2")
    flows = page.js("[...document.querySelectorAll('#flows tbody tr')].map(r => r.dataset.flow)")
    assert sorted(flows) == ["demo.greet", "demo.tools.other"]
    assert "nightly (Schedule)" in _text(page, "tr[data-flow='demo.tools.other']")

    # flow page: the committed YAML, the outline, the run form
    page.js("document.querySelector(\"tr[data-flow='demo.greet'] a\").click()")
    page.wait("document.body.dataset.route === 'flows/demo/greet'")
    page.wait("window.gitflowsEditor && document.querySelector('#graph .node')")
    assert page.js("window.gitflowsEditor.getText()") == GREET
    page.wait("document.querySelector('#diagnostics li.ok')")  # the committed flow is valid
    assert page.js("[...document.querySelectorAll('#graph .node')].map(l => l.dataset.task)") \
        == ["hello", "lines"]
    form = page.js("""[...document.querySelectorAll('#run-form [name]')].map(e => ({
        name: e.name, kind: e.type, value: e.type === 'checkbox' ? e.checked : e.value,
        required: e.required}))""")
    assert form == [
        {"name": "who", "kind": "text", "value": "world", "required": True},
        {"name": "times", "kind": "number", "value": "3", "required": True},
        {"name": "loud", "kind": "checkbox", "value": False, "required": False},
        {"name": "color", "kind": "select-one", "value": "green", "required": True},
        {"name": "note", "kind": "text", "value": "", "required": False},
    ]
    assert page.js("[...document.querySelectorAll('#run-form select option')].map(o => o.value)") \
        == ["red", "green"]

    # inline validation as one types
    line = next(i for i, text in enumerate(GREET.splitlines(), 1) if "message:" in text)
    page.js("window.gitflowsEditor.setText(window.gitflowsEditor.getText().replace('message:', 'mesage:'))")
    marked = f"#diagnostics li[data-code='unknown-property'][data-line='{line}']"
    page.wait(f"document.querySelector({json.dumps(marked)})")
    page.wait("document.querySelector('#editor .cm-lintRange-error')")  # marked in the editor
    page.screenshot(tmp_path / "flow-page.png")

    # run it with typed inputs: the execution page streams its logs live (`lines` holds after
    # `line 1` until the gate opens, so the run is surely still going when the page shows it)
    gate.close()
    page.js("""(() => { document.getElementById('input-who').value = 'browser';
        document.getElementById('input-times').value = '7';
        document.getElementById('input-color').value = 'red';
        document.getElementById('run-button').click(); })()""")
    route = str(page.wait("document.body.dataset.route?.startsWith('executions/') && "
                          "document.body.dataset.route"))
    execution_id = route.split("/", 1)[1]
    page.wait("document.getElementById('logs').textContent.includes('line 1')")
    state = get_json(f"{served}/api/v1/executions/{execution_id}")["state"]["current"]
    assert state == "RUNNING", "line 1 was shown only after the run ended"
    assert "line 3" not in _text(page, "#logs")
    gate.open()
    page.wait("document.getElementById('exec-state').textContent === 'SUCCESS'")
    page.wait("document.getElementById('logs').textContent.includes('line 3')")
    logs = _text(page, "#logs")
    assert "hello browser x7 red" in logs
    assert logs.index("line 1") < logs.index("line 2") < logs.index("line 3")
    tasks = page.js("[...document.querySelectorAll('#taskruns tbody tr')].map(r => r.dataset.task)")
    assert tasks == ["hello", "lines"]
    assert page.js("document.getElementById('kill')") is None
    assert "null" not in _text(page, "#app") and "undefined" not in _text(page, "#app")
    page.screenshot(tmp_path / "execution-page.png")
    assert (tmp_path / "execution-page.png").stat().st_size > 1000

    # the executions list shows it
    page.goto(served + "/#/executions")
    page.wait(f"document.querySelector(\"tr[data-execution='{execution_id}']\")")
    assert "SUCCESS" in _text(page, f"tr[data-execution='{execution_id}']")
    assert "demo.greet" in _text(page, f"tr[data-execution='{execution_id}']")


def test_user_text_is_escaped(served: str, page: Page) -> None:
    get_json(served + "/api/v1/executions/demo/greet", "POST", {"who": "<img src=x onerror=alert(1)>"})
    runs = get_json(served + "/api/v1/executions")
    page.goto(f"{served}/#/executions/{runs[0]['id']}")
    page.wait("document.getElementById('logs')?.textContent.includes('<img src=x')")
    assert page.js("document.querySelectorAll('#logs img').length") == 0


def test_history_page_lists_recorded_runs_and_filters_them(served: str, page: Page) -> None:
    ok = get_json(served + "/api/v1/executions/demo/greet?wait=true", "POST", {"who": "Ada"})
    assert ok["state"]["current"] == "SUCCESS"
    page.goto(served + "/#/history")
    page.wait(f"document.querySelector(\"tr[data-run='{ok['id']}']\")")
    row = _text(page, f"tr[data-run='{ok['id']}']")
    assert "demo.greet" in row and "SUCCESS" in row and "manual" in row
    page.js("document.getElementById('history-state').value = 'FAILED'")
    page.js("document.querySelector('#history-filter button').click()")
    page.wait("document.querySelectorAll('#history tbody tr').length === 0")
