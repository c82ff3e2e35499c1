"""A remote repository (a clone URL) served from a bare mirror, in poll mode:
new commits pushed to the remote start runs without any webhook."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.integration.test_hooks import FLOW, commit, executions_after, git
from tests.waiting import wait_until
from webhooks.ingress.inbox import CLAIMED, PENDING, Inbox
from webhooks.runs.queue import RunQueue


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True,
                   capture_output=True)
    git(work, "checkout", "-q", "-b", "main")
    commit(work, ".flows/build.yml", FLOW, "flows")
    commit(work, "src/app.txt", "v1", "app")
    git(work, "push", "-q", "origin", "main")
    return origin, work


@pytest.fixture
def server(tmp_path: Path, remote: tuple[Path, Path]) -> Iterator[str]:
    origin, _ = remote
    server = Server(["--repo", f"octo/app=file://{origin}", "--data", str(tmp_path / "data"),
                     "--executor", "process", "--poll", "0.3s"], log=tmp_path / "serve.log")
    try:
        # the first poll round records the refs as they are: a push before it would be taken
        # for what was there
        wait_until(lambda: _recorded(tmp_path / "data" / "poll.sqlite3"), "the first poll round")
        yield server.base
    finally:
        server.stop()


def _polled_refs(state: Path) -> dict[str, str]:
    """The refs of octo/app as the poller last stored them (empty before its first round)."""
    if not state.exists():
        return {}
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT ref, sha FROM refs WHERE repo = 'octo/app'").fetchall())
    except sqlite3.OperationalError:  # the table is not created yet, or the writer holds a lock
        return {}
    finally:
        db.close()


def _recorded(state: Path) -> bool:
    """Whether the poller has stored the refs of octo/app (its first round is done)."""
    return bool(_polled_refs(state))


def handled(data: Path, ref: str, sha: str) -> bool:
    """Whether a poll round has seen `ref` at `sha` and the dispatcher has handled what that
    round stored (so a run it called for is in the run queue by now): an event to wait for
    before saying that a push ran nothing, where sleeping "a few poll rounds" is a guess."""
    if _polled_refs(data / "poll.sqlite3").get(ref) != sha:  # events are stored before the refs
        return False
    inbox = Inbox(data / "inbox.sqlite3")
    try:
        counts = inbox.counts()
    finally:
        inbox.close()
    return not counts.get(PENDING) and not counts.get(CLAIMED)


def queued_runs(data: Path) -> int:
    """How many runs the dispatcher has put in the durable run queue, whatever their state."""
    queue = RunQueue(data / "runs.sqlite3")
    return sum(queue.counts().values())


def test_pushes_to_the_remote_start_runs_in_poll_mode(server: str, remote: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    _, work = remote
    assert executions_after(server, 0, settle=0.5) == []  # nothing runs for what was there
    change = commit(work, "src/app.txt", "v2", "change")
    git(work, "push", "-q", "origin", "main")
    runs = executions_after(server, 1)
    assert [r["trigger"]["commit"] for r in runs] == [change]
    outputs = {tr["taskId"]: tr["outputs"] for tr in runs[0]["taskRunList"]}
    assert outputs["which"]["value"] == f"{change} main"
    git(work, "checkout", "-q", "-b", "feature")
    feature = commit(work, "src/app.txt", "v3", "feature work")
    git(work, "push", "-q", "origin", "feature")
    wait_until(lambda: handled(tmp_path / "data", "refs/heads/feature", feature), "the feature push")
    assert queued_runs(tmp_path / "data") == 1  # branches: [main] filters the feature push
    assert len(executions_after(server, 1)) == 1


def test_an_empty_repository_is_polled_without_phantom_events(tmp_path: Path) -> None:
    from runner.executors import Executors, LocalExecutor
    from webhooks.config import RepoConfig, ServerConfig
    from webhooks.loops.poller import Poller
    from webhooks.runs.service import FlowService

    origin = tmp_path / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    config = ServerConfig(data_dir=tmp_path / "data",
                          repos=(RepoConfig(name="octo/empty", location=f"file://{origin}"),))
    service = FlowService(config, Executors(LocalExecutor()), environ={})
    poller = Poller(service, 60)
    try:
        assert poller.poll_once() == 0  # first round: records that there is nothing
        assert poller.poll_once() == 0  # still nothing moved
        assert service.intake.inbox.pending_count() == 0
    finally:
        service.close()
