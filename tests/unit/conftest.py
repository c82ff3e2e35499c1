"""Fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.engine_helpers import Harness


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    """The real parser and engine, steps as host processes, state under tmp_path."""
    return Harness(tmp_path)
