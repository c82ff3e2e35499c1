"""A fresh clone with no registry (issue 18): the demo repository `scripts/serve` serves runs a
flow in containers on one click, and the README's first flow runs as written, once
`scripts/demo-images` has put the images they name on the machine."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pw import browser
from tests.browser.strict import tab
from tests.conftest import REPO_ROOT, Server, docker_executor, run_cli

__all__ = ["browser", "docker_executor", "tab"]  # fixtures


@pytest.fixture(scope="module")
def demo_images(docker_executor: Any) -> None:
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "demo-images")], check=True,
                   capture_output=True, timeout=600)


@pytest.fixture
def demo(tmp_path: Path, demo_images: None) -> Iterator[str]:
    made = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "demo-repo"), str(tmp_path / "demo")],
                          check=True, capture_output=True, text=True).stdout.strip()
    server = Server(["--repo", f"demo={made}", "--data", str(tmp_path / "data"),
                     "--executor", "docker"], cwd=Path(made), log=tmp_path / "serve.log")
    try:
        yield server.base
    finally:
        server.stop()


def readme_first_flow() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### A first flow"):]
    found = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_the_readme_first_flow_is_the_demo_hello_flow() -> None:
    assert readme_first_flow() == (REPO_ROOT / "examples/demo/.flows/hello.yml").read_text()


def test_the_readme_first_flow_runs_as_written_in_a_container(tmp_path: Path,
                                                             demo_images: None) -> None:
    (tmp_path / ".flows").mkdir()
    (tmp_path / ".flows" / "hello.yml").write_text(readme_first_flow())
    done = run_cli("run", ".flows/hello.yml", "-i", "who=Ada", "--executor", "docker", "--json",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    execution = json.loads(done.stdout)
    assert execution["state"]["current"] == "SUCCESS"
    use = next(t for t in execution["taskRunList"] if t["taskId"] == "use")
    assert use["outputs"]["value"] == "the answer is 42"
    assert "Hello Ada" in done.stderr


def test_one_click_runs_a_demo_flow_in_containers(demo: str, tab: Any) -> None:
    tab.goto(demo + "/#/flows")
    tab.click("tr[data-flow='demo.numbers'] a")
    tab.wait_for_selector("#run-form #input-count")
    tab.click("#run-button")
    tab.wait_for_selector("#exec-state .state-SUCCESS", timeout=180_000)
    logs = tab.inner_text("#logs")
    assert "making 10 numbers" in logs and "10 numbers, mean 5.5" in logs
    assert "demo run: the total is 55" in logs
