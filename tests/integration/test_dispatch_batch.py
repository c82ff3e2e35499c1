"""The dispatcher takes deliveries in batches: a delivery that fails is retried alone while the
rest of its batch is done; a push that changes a flow file is dispatched with the new flow,
however many pushes of the same batch came before it (flows are parsed once per `.flows`
tree); a batch decides the same runs as the deliveries taken one at a time; and a slow batch
renews its leases, so no other dispatcher takes a delivery still being decided."""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.executors import Executors, LocalExecutor
from tests.integration.test_hooks import commit, git
from webhooks.config import RepoConfig, ServerConfig
from webhooks.loops import dispatcher as dispatch
from webhooks.runs.service import FlowService

ZERO = "0" * 40


def flow(paths: str, trigger: str = "on_push") -> str:
    return (f"id: build\nnamespace: demo\ntriggers:\n  - id: {trigger}\n"
            f"    type: gitflows.trigger.Push\n    paths: ['{paths}']\n"
            "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "hello"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def service_for(repo: Path, data: Path) -> FlowService:
    config = ServerConfig(data_dir=data, repos=(RepoConfig(
        name="octo/hello", location=str(repo), provider="github"),))
    return FlowService(config, Executors(LocalExecutor()), environ={})


@pytest.fixture
def service(repo: Path, tmp_path: Path) -> Iterator[FlowService]:
    made = service_for(repo, tmp_path / "data")
    yield made
    made.close()


def store(service: FlowService, before: str, after: str, *, ref: str = "refs/heads/main",
          deleted: bool = False, message: str = "change") -> str:
    """Store a push delivery in the inbox, as the HTTP side does; its delivery id."""
    delivery = str(uuid.uuid4())
    body = json.dumps({"ref": ref, "before": before, "after": after, "created": before == ZERO,
                       "deleted": deleted, "forced": False,
                       "repository": {"full_name": "octo/hello"}, "pusher": {"name": "t"},
                       "head_commit": None if deleted else {"id": after, "message": message},
                       "commits": []}).encode()
    assert service.intake.inbox.accept("github", delivery, {"x-github-event": "push"}, body)
    return delivery


def queued(data: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(delivery id, commit, trigger) of every queued run, in queue order."""
    with sqlite3.connect(data / "runs.sqlite3") as conn:
        rows = conn.execute("SELECT key, commit_id, trigger FROM runs ORDER BY id").fetchall()
    return [(key.split(":")[1], sha, json.loads(trigger)) for key, sha, trigger in rows]


def state(service: FlowService, delivery: str) -> str | None:
    found = service.intake.inbox.find("github", delivery)
    return found.state if found is not None else None


def test_a_failing_delivery_is_retried_alone_and_the_rest_of_its_batch_is_done(
        repo: Path, service: FlowService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "RETRY_SECONDS", 0.0)
    first = commit(repo, ".flows/build.yml", flow("**"), "flow")
    second = commit(repo, "a.txt", "a", "a")
    # a commit the served repository does not have yet (pushed before it was fetched)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    missing = commit(other, "b.txt", "b", "b")
    ok1 = store(service, first, second)
    bad = store(service, second, missing)
    ok2 = store(service, first, second, ref="refs/heads/release")
    dispatcher = dispatch.Dispatcher(service)

    assert dispatcher.process_batch()
    inbox = service.intake.inbox
    assert [state(service, d) for d in (ok1, bad, ok2)] == ["done", "pending", "done"]
    failed = inbox.find("github", bad)
    assert failed is not None and failed.attempts == 1 and failed.last_error
    assert [d for d, _, _ in queued(service.config.data_dir)] == [ok1, ok2]

    git(repo, "fetch", "-q", str(other), "main")  # the commit arrives: the retry succeeds
    assert dispatcher.process_batch()
    retried = inbox.find("github", bad)
    assert retried is not None and retried.state == "done" and retried.attempts == 2
    assert [(d, sha) for d, sha, _ in queued(service.config.data_dir)] == [
        (ok1, second), (ok2, second), (bad, missing)]
    assert not dispatcher.process_batch()  # nothing left: none is taken twice


def test_a_push_that_changes_a_flow_file_is_dispatched_with_the_new_flow(
        repo: Path, service: FlowService) -> None:
    c0 = commit(repo, ".flows/build.yml", flow("a/**"), "flow on a/")
    c1 = commit(repo, "a/x.txt", "x", "a")
    c2 = commit(repo, "b/x.txt", "x", "b (no run: the flow watches a/)")
    c3 = commit(repo, ".flows/build.yml", flow("b/**", "on_b"), "the flow now watches b/")
    c4 = commit(repo, "a/y.txt", "y", "a (no run any more)")
    c5 = commit(repo, "b/y.txt", "y", "b")
    c6 = commit(repo, ".flows/build.yml", "id: build\nnamespace: demo\ntasks: [", "broken")
    c7 = commit(repo, "b/z.txt", "z", "b, but the flow is invalid")
    c8 = commit(repo, ".flows/build.yml", flow("a/**"), "back to a/ (the first tree again)")
    c9 = commit(repo, "a/z.txt", "z", "a")
    shas = [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]
    ids = [store(service, before, after) for before, after in itertools.pairwise(shas)]
    dispatcher = dispatch.Dispatcher(service)
    assert dispatcher.process_batch()  # all in one batch
    got = [(ids.index(d) + 1, trigger["id"]) for d, _, trigger in queued(service.config.data_dir)]
    assert got == [(1, "on_push"), (5, "on_b"), (9, "on_push")]
    assert service.intake.inbox.counts()["done"] == len(ids)


def test_a_batch_decides_the_runs_one_at_a_time_would(repo: Path, tmp_path: Path) -> None:
    """New branches, tags, deletions, [skip ci], a force push whose `before` is gone, the same
    commit pushed twice: the batch queues the same runs, triggers and order as single rounds."""
    c0 = commit(repo, ".flows/build.yml", flow("**"), "flow")
    c1 = commit(repo, "a.txt", "1", "one")
    c2 = commit(repo, "a.txt", "2", "two [skip ci]")
    git(repo, "checkout", "-q", "-b", "topic")
    c3 = commit(repo, "t.txt", "t", "topic")
    git(repo, "checkout", "-q", "main")
    git(repo, "tag", "-a", "v1", "-m", "v1", c1)
    tag = git(repo, "rev-parse", "v1")
    gone = "1234567890abcdef1234567890abcdef12345678"
    pushes: list[tuple[str, str, dict[str, Any]]] = [
        (c0, c1, {}), (c1, c2, {"message": "two [skip ci]"}), (ZERO, c3, {"ref": "refs/heads/topic"}),
        (ZERO, tag, {"ref": "refs/tags/v1"}), (c3, ZERO, {"ref": "refs/heads/topic", "deleted": True}),
        (gone, c1, {}), (c0, c1, {"ref": "refs/heads/again"}), (c1, "not-a-sha", {})]
    results = []
    for limit in (dispatch.BATCH, 1):
        data = tmp_path / f"data-{limit}"
        service = service_for(repo, data)
        try:
            for before, after, extra in pushes:
                store(service, before, after, **extra)
            dispatcher = dispatch.Dispatcher(service)
            while dispatcher.process_batch(limit):
                pass
            with sqlite3.connect(data / "runs.sqlite3") as conn:
                rows = conn.execute("SELECT commit_id, trigger FROM runs ORDER BY id").fetchall()
            states = service.intake.inbox.counts()
        finally:
            service.close()
        results.append(([(sha, json.loads(trigger)) for sha, trigger in rows], states))
    assert results[0] == results[1]
    runs, states = results[0]
    assert [sha for sha, _ in runs] == [c1, c3, tag, c1, c1]
    assert states["done"] == len(pushes) - 1 and states["pending"] == 1  # not-a-sha: retried


class Clock:
    """The dispatcher's and the inbox's clocks, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_a_batch_slower_than_its_lease_keeps_its_deliveries_from_other_dispatchers(
        repo: Path, service: FlowService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each delivery of the batch takes 2 s against a 3 s lease: the leases are renewed as
    the batch goes, so another dispatcher never takes a delivery still being decided."""
    clock = Clock()
    monkeypatch.setattr(dispatch, "LEASE_SECONDS", 3.0)
    monkeypatch.setattr(dispatch, "time", clock)
    monkeypatch.setattr(service.intake.inbox, "clock", clock.time)
    c0 = commit(repo, ".flows/build.yml", flow("**"), "flow")
    c1 = commit(repo, "a.txt", "1", "one")
    ids = [store(service, c0, c1, ref=f"refs/heads/b{n}") for n in range(3)]
    dispatcher = dispatch.Dispatcher(service)
    decide = dispatcher._decide
    taken_by_another: list[str] = []

    def slow(event: Any, delivery: str, snaps: Any) -> Any:
        clock.now += 2.0  # a slow forge, say: past a third of the lease each time
        taken = service.intake.inbox.claim_batch("another-host:1", 3.0, 10)
        taken_by_another.extend(d.delivery_id for d in taken)
        return decide(event, delivery, snaps)

    monkeypatch.setattr(dispatcher, "_decide", slow)
    assert dispatcher.process_batch()
    assert taken_by_another == []
    assert [state(service, d) for d in ids] == ["done"] * 3
    assert sorted(d for d, _, _ in queued(service.config.data_dir)) == sorted(ids)
