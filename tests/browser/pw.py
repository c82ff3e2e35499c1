"""Playwright (Python) driving Debian's chromium, and a `flows serve` on a repository of
given flows: the fixtures of the editor's browser tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser.cdp import CHROMIUM
from tests.conftest import Server
from tests.waiting import CEILING

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what}; CI=true: the browser tests fail rather than skip")
    pytest.skip(what)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return done.stdout


@dataclass(frozen=True)
class Served:
    base: str
    repo: Path


def serve_flows(tmp_path: Path, flows: dict[str, str], env: dict[str, str] | None = None) -> Iterator[Served]:
    """A `flows serve` process on a new git repository holding these .flows/ files."""
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    for name, text in flows.items():
        (repo / ".flows" / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log", env=env)
    try:
        yield Served(server.base, repo)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium, or scripts/setup test-env)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900},
                                  # the tests' own wait_for_function strings are eval to the
                                  # UI's CSP; the UI itself runs under it in the cdp-driven tests
                                  bypass_csp=True)
    tab = context.new_page()
    tab.set_default_timeout(CEILING * 1000)  # waits are for events: room for a busy machine
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def editor_text(page: Any) -> str:
    return str(page.evaluate("window.gitflowsEditor.getText()"))


def pick_type(page: Any, query: str, type_name: str) -> None:
    """In the open type picker: search, then choose the type with the keyboard."""
    page.wait_for_selector("dialog#type-picker[open]")
    page.fill("#type-search", query)
    option = page.locator(f"#type-list li[data-type='{type_name}']")
    option.wait_for()
    for _ in range(option.evaluate("li => [...li.parentNode.children].indexOf(li)")):
        page.press("#type-search", "ArrowDown")
    page.press("#type-search", "Enter")
    page.wait_for_selector("dialog#type-picker", state="detached")
