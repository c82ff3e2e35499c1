"""A browser tab that runs the UI under its own CSP (not bypassed) and fails the test on any
console error (a failed load, a CSP refusal, an invalid pattern attribute …) or uncaught
exception: the bar of the first-hour journeys (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(f"pageerror: {err}"))
    try:
        yield page
    finally:
        context.close()
    assert not problems, f"console errors: {problems}"
