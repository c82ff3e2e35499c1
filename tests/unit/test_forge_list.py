"""One list of forges (runner/forges/__init__.py): every place that offers a forge reads it,
every listed forge is complete, and no module outside runner/forges/ names a forge."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner import forges
from runner.cli.main import main
from runner.events import State
from runner.forges.status import STATUS_STATES, Outcome, Target, outcome_of, status_request
from tests.conftest import REPO_ROOT

FORGE_NAMES = {"github", "gitea", "gitlab", "forgejo"}


def test_the_cli_offers_the_listed_forges() -> None:
    help_text = CliRunner().invoke(main, ["ci", "--help"]).output
    offered = re.search(r"--provider \[([^\]]+)\]", help_text)
    assert offered is not None, help_text
    assert tuple(offered.group(1).split("|")) == forges.NAMES == ("github", "gitea", "gitlab")


@pytest.mark.parametrize("name", forges.NAMES)
def test_every_forge_with_a_status_api_spells_every_outcome(name: str) -> None:
    forge = forges.get(name)
    assert forge is not None and forge.reports_status
    assert set(forge.status_states) == set(Outcome) and STATUS_STATES[name] == forge.status_states
    for state in State:
        target = Target(name, "https://forge.example/", "octo/hello", "a" * 40, "flows/ci.build")
        request = status_request(target, "t0ken", outcome_of(state), "done")
        assert request.method == "POST" and request.url.startswith(target.base + "/")
        assert "a" * 40 in request.url and "t0ken" in " ".join(request.headers.values())
        assert forge.status_states[outcome_of(state)] in request.body.values()  # type: ignore[union-attr]


def test_a_plain_git_server_reports_no_status() -> None:
    generic = forges.get("generic")
    assert generic is not None and not generic.reports_status and "generic" not in forges.NAMES
    with pytest.raises(ValueError, match="unknown provider"):
        Target("generic", "https://git.example", "o/r", "a" * 40, "c").base  # noqa: B018


def _forge_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.lower() in FORGE_NAMES]


def test_no_module_outside_runner_forges_names_a_forge() -> None:
    """A forge added to the list reaches the CLI, `flows ci`, reporting and the server by
    itself: nothing else compares against a forge's name (GitHub's App and check runs,
    which only GitHub has, excepted)."""
    allowed = {"runner/forges"}
    found = []
    for path in sorted([*REPO_ROOT.glob("runner/**/*.py"), *REPO_ROOT.glob("webhooks/**/*.py")]):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if any(rel == a or rel.startswith(a + "/") for a in allowed):
            continue
        found += [f"{rel}:{line}: {value!r}" for line, value in _forge_literals(path)]
    assert found == []
