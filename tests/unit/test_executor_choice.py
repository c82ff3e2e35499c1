"""`--executor`: the container engines are one table (runner/executors/choose.py); `auto`
asks them in order and falls back to host processes with a warning, a named engine that
does not answer is an error, and the CLI offers exactly the table's names."""

from __future__ import annotations

import re
import threading

import pytest
from click.testing import CliRunner

from runner.cli.main import main
from runner.errors import GitflowsError
from runner.executors import choose
from runner.executors.local import LocalExecutor
from runner.ports.executor import LineHandler, ProcessResult, ProcessSpec


class Engine:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult:
        return ProcessResult(0)

    def close_session(self, session: str) -> None:
        pass


def down() -> Engine:
    raise GitflowsError("engine not answering")


def test_auto_takes_the_first_engine_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choose, "CONTAINER_ENGINES", {"docker": down, "podman": lambda: Engine("podman")})
    warnings: list[str] = []
    executors = choose.executors_for("auto", warnings.append)
    assert executors.container is not None and executors.container.name == "podman"
    assert isinstance(executors.host, LocalExecutor) and warnings == []


def test_auto_falls_back_to_processes_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choose, "CONTAINER_ENGINES", {"docker": down})
    warnings: list[str] = []
    executors = choose.executors_for("auto", warnings.append)
    assert executors.container is None and "not isolated in containers" in warnings[0]


def test_a_named_engine_that_does_not_answer_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choose, "CONTAINER_ENGINES", {"docker": down, "podman": lambda: Engine("podman")})
    with pytest.raises(GitflowsError, match="not answering"):
        choose.executors_for("docker", lambda _: None)
    assert choose.executors_for("podman", lambda _: None).container.name == "podman"  # type: ignore[union-attr]


@pytest.mark.parametrize("command", [["run"], ["ci"], ["bisect"], ["serve"], ["worker"]])
def test_the_cli_offers_the_table(command: list[str]) -> None:
    help_text = CliRunner().invoke(main, [*command, "--help"]).output
    offered = re.search(r"--executor \[([^\]]+)\]", help_text)
    assert offered is not None, help_text
    assert tuple(offered.group(1).split("|")) == choose.CHOICES == ("auto", "docker", "process")
