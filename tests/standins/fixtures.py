"""GitHub's REST API description, from the npm package @octokit/openapi, installed by
scripts/fetch-test-fixtures under $GITFLOWS_FIXTURES (default .cache/fixtures).

Under CI=true a missing description fails the test; locally it is skipped with the
command to run.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.standins.github import OpenApi

OPENAPI_FILE = Path("node_modules") / "@octokit" / "openapi" / "generated" / "api.github.com.json"


def fixtures_dir() -> Path:
    return Path(os.environ.get("GITFLOWS_FIXTURES") or REPO_ROOT / ".cache" / "fixtures")


def openapi_path() -> Path:
    return fixtures_dir() / OPENAPI_FILE


def missing(what: Path) -> None:
    message = (f"GitHub's OpenAPI description not found ({what}); run scripts/fetch-test-fixtures "
               f"(it installs @octokit/openapi under $GITFLOWS_FIXTURES, default .cache/fixtures)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: missing fixtures fail rather than skip)")
    pytest.skip(message)


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_openapi() -> dict[str, Any]:
    """The parsed description (read once per test session)."""
    path = openapi_path()
    if not path.is_file():
        missing(path)
    return _load(path)


@functools.cache
def _openapi(path: Path) -> OpenApi:
    return OpenApi(_load(path))


def github_openapi() -> OpenApi:
    """GitHub's description wrapped for the stand-in (an OpenApi; built once per session)."""
    load_openapi()
    return _openapi(openapi_path())
