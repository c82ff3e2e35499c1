"""gitflows.artifacts.Upload / Download through the real engine: one run publishes, a later
run of another flow fetches; untrusted runs, links and paths that try to get out."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Collect, LogLine
from runner.executors import Executors, LocalExecutor
from runner.ports.executor import Executor
from runner.ports.task import RunSource
from runner.tasks.artifact_store import ArtifactStore
from tests.conftest import BUSYBOX_IMAGE
from tests.unit.engine_helpers import final, flow_of, runs

PUBLISH = """
id: build
namespace: demo
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - mkdir -p dist/sub && echo app > dist/app.bin && echo lib > dist/sub/lib.so
      - echo report > report.txt
    outputFiles: [report.txt]
  - id: up
    type: gitflows.artifacts.Upload
    name: dist
    files:
      - "{{ outputs.make.outputFiles['report.txt'] }}"
"""

# globs name files of the working directory: a WorkingDirectory shares it between tasks
IN_ONE_DIRECTORY = """
id: build
namespace: demo
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: make
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - mkdir -p dist/sub && echo app > dist/app.bin && echo lib > dist/sub/lib.so
          - echo report > report.txt
      - id: up
        type: gitflows.artifacts.Upload
        name: dist
        files: ["dist/**", report.txt]
"""

FETCH = """
id: deploy
namespace: demo
tasks:
  - id: down
    type: gitflows.artifacts.Download
    name: dist
    {extra}
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ read(outputs.down.outputFiles['report.txt']) }}}}"
"""


class Runs:
    def __init__(self, tmp_path: Path, branch: str = "main") -> None:
        self.tmp = tmp_path
        self.source = RunSource("acme/app", branch, "c0ffee")
        self.events = Collect()

    def run(self, text: str, untrusted: bool = False, container: Executor | None = None
            ) -> Execution:
        executors = Executors(LocalExecutor(), container, untrusted=untrusted)
        engine = Engine(executors, self.events,
                        data_dir=self.tmp / "data", work_root=self.tmp,
                        source=lambda: self.source)
        return engine.run(flow_of(text))

    def errors(self) -> str:
        return "\n".join(e.message for e in self.events.events
                         if isinstance(e, LogLine) and e.level == "ERROR")

    def store(self) -> ArtifactStore:
        return ArtifactStore.for_repo(self.tmp / "data", "acme/app")


def test_a_later_run_of_another_flow_fetches_what_a_run_published_on_its_branch(
        tmp_path: Path) -> None:
    runs_ = Runs(tmp_path)
    published = runs_.run(IN_ONE_DIRECTORY)
    assert published.state.current.name == "SUCCESS", runs_.errors()
    up = runs(published, "up")[0]["outputs"]
    assert sorted(up["files"]) == ["dist/app.bin", "dist/sub/lib.so", "report.txt"]
    fetched = runs_.run(FETCH.format(extra="into: got"))
    assert fetched.state.current.name == "SUCCESS", runs_.errors()
    down = runs(fetched, "down")[0]["outputs"]
    assert down["execution"] == published.id and down["flow"] == "demo.build"
    assert Path(down["outputFiles"]["dist/sub/lib.so"]).read_text() == "lib\n"
    assert any(e.message == "report\n" for e in runs_.events.events if isinstance(e, LogLine))


def test_a_download_on_a_branch_without_a_publish_fails_and_says_so(tmp_path: Path) -> None:
    Runs(tmp_path).run(PUBLISH)
    other = Runs(tmp_path, branch="feature")
    fetched = other.run(FETCH.format(extra=""))
    assert final(fetched, "down") == "FAILED"
    assert "no artifact dist for branch feature" in other.errors()
    by_branch = other.run(FETCH.format(extra="branch: main"))
    assert final(by_branch, "down") == "SUCCESS", other.errors()


UNTRUSTED_PUBLISH = f"""
id: fork
namespace: demo
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: {BUSYBOX_IMAGE}
    commands: [echo evil > report.txt]
    outputFiles: [report.txt]
  - id: up
    type: gitflows.artifacts.Upload
    name: dist
    files: "{{{{ outputs.make.outputFiles }}}}"
"""


@pytest.mark.docker
def test_a_fork_run_cannot_replace_what_trusted_runs_download(
        tmp_path: Path, docker_executor: Executor) -> None:
    """The attack: a fork's pull request publishes `dist` on main after the real build; the
    trusted deploy still fetches the real one, and not even by the fork's execution id."""
    runs_ = Runs(tmp_path)
    real = runs_.run(PUBLISH)
    fork = runs_.run(UNTRUSTED_PUBLISH, untrusted=True, container=docker_executor)
    assert fork.state.current.name == "SUCCESS", runs_.errors()
    assert runs_.store().list()[0].trusted is False
    deploy = runs_.run(FETCH.format(extra=""))
    assert runs(deploy, "down")[0]["outputs"]["execution"] == real.id
    by_id = runs_.run(FETCH.format(extra=f"execution: {fork.id}"))
    assert final(by_id, "down") == "FAILED"
    # the fork's own later runs may read it (they are untrusted as well)
    fork_reads = runs_.run(FETCH.format(extra="").replace(
        "  - id: show", "  - id: show\n    disabled: true"), untrusted=True,
        container=docker_executor)
    assert runs(fork_reads, "down")[0]["outputs"]["execution"] == fork.id


def _upload(files: str) -> str:
    return f"""
id: leak
namespace: demo
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: plant
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - ln -s /etc/passwd leak
          - mkdir real && ln -s /etc real/etc
      - id: up
        type: gitflows.artifacts.Upload
        name: dist
        files: {files}
"""


def test_uploads_never_leave_the_working_directory_or_the_execution(tmp_path: Path) -> None:
    runs_ = Runs(tmp_path)
    for files, why in (('["leak"]', "only symbolic links"),
                       ('["real/etc/passwd"]', "no file in the working directory matches"),
                       ('["../../etc/passwd"]', "not a relative path"),
                       ('["/etc/passwd"]', "not a file of this execution"),
                       ('{"../x": "/etc/hostname"}', "not a relative path")):
        execution = runs_.run(_upload(files))
        assert final(execution, "up") == "FAILED", files
        assert why in runs_.errors(), (files, runs_.errors())
    assert runs_.store().list() == []


def test_downloads_stay_inside_the_working_directory(tmp_path: Path) -> None:
    runs_ = Runs(tmp_path)
    runs_.run(PUBLISH)
    escaped = tmp_path / "escaped"
    for into in ("../escaped", "/tmp", str(escaped)):
        fetched = runs_.run(FETCH.format(extra=f"into: {into}"))
        assert final(fetched, "down") == "FAILED"
        assert "into:" in runs_.errors()
    assert not escaped.exists()


def test_a_run_without_a_repository_is_told_why(tmp_path: Path) -> None:
    events = Collect()
    engine = Engine(Executors(LocalExecutor()), events, data_dir=tmp_path / "d",
                    work_root=tmp_path)
    execution = engine.run(flow_of(FETCH.format(extra="")))
    assert final(execution, "down") == "FAILED"
    assert any("artifacts belong to a repository" in e.message for e in events.events
               if isinstance(e, LogLine))


def test_a_run_knows_its_repository_branch_and_commit_from_its_trigger_or_work_tree(
        tmp_path: Path) -> None:
    import subprocess

    from runner.session import RunRequest, run_source

    flow = flow_of(FETCH.format(extra=""))
    tree = tmp_path / "tree"
    tree.mkdir()
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "topic"], check=True)
    assert run_source(RunRequest(flow, tree)) == RunSource(str(tree.resolve()), "topic", None)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    assert run_source(RunRequest(flow, tree)) == RunSource(str(tree.resolve()), "topic", head)
    pushed = RunRequest(flow, tree, trigger={"type": "push", "branch": "main", "sha": "abc"},
                        scope="acme/app")
    assert run_source(pushed) == RunSource("acme/app", "main", "abc")
    pull = RunRequest(flow, tmp_path, trigger={"type": "pull_request", "head": "fix"},
                      scope="acme/app")
    assert run_source(pull) == RunSource("acme/app", "fix", None)
    assert run_source(RunRequest(flow, tmp_path)) is None  # no repository: no artifacts


def test_an_upload_above_the_size_limit_fails_and_leaves_nothing_staged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.tasks import artifact_store

    monkeypatch.setattr(artifact_store, "MAX_BYTES", 10)
    runs_ = Runs(tmp_path)
    execution = runs_.run(IN_ONE_DIRECTORY)
    assert final(execution, "up") == "FAILED"
    assert "at most 10 bytes" in runs_.errors()
    assert runs_.store().list() == []
    assert list((runs_.store().root / "staging").iterdir()) == []
