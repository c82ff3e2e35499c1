"""The durable inbox in one process: dedupe, claims, leases and their expiry, retries,
and concurrent threads. (Several processes and SIGKILL: tests/integration/test_inbox_processes.py.)"""

from __future__ import annotations

import gc
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_until
from webhooks.ingress.inbox import CLAIMED, DONE, FAILED, PENDING, Inbox, InboxUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox(tmp_path: Path, clock: Clock) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "data" / "inbox.db", clock=clock)
    yield box
    box.close()


def test_duplicates_are_acknowledged_once(inbox: Inbox) -> None:
    assert inbox.accept("github", "d-1", {"x-github-event": "push"}, b"{}") is True
    assert inbox.accept("github", "d-1", {"x-github-event": "push"}, b"{}") is False
    assert inbox.accept("github", "d-1", {}, b"another body, same id") is False
    assert inbox.accept("gitea", "d-1", {}, b"{}") is True  # ids are per provider
    assert inbox.pending_count() == 2
    first = inbox.find("github", "d-1")
    assert first is not None and first.headers == {"x-github-event": "push"} and first.body == b"{}"


def test_a_finished_delivery_still_deduplicates_until_purged(inbox: Inbox, clock: Clock) -> None:
    inbox.accept("github", "d-1", {}, b"{}")
    claimed = inbox.claim("w", 30)
    assert claimed is not None and inbox.done(claimed.id)
    assert inbox.accept("github", "d-1", {}, b"{}") is False
    clock.now += 100
    assert inbox.purge(clock.now - 50) == 1
    assert inbox.accept("github", "d-1", {}, b"{}") is True


def test_bodies_are_kept_byte_for_byte(inbox: Inbox) -> None:
    body = bytes(range(256)) * 64 + b"\x00trailing"
    inbox.accept("github", "bin", {"content-type": "application/octet-stream"}, body)
    delivery = inbox.claim("w", 30)
    assert delivery is not None and delivery.body == body and isinstance(delivery.body, bytes)
    conn = sqlite3.connect(inbox.path)
    assert conn.execute("SELECT typeof(body) FROM deliveries").fetchone() == ("blob",)
    conn.close()


def test_wal_and_durability_settings(inbox: Inbox) -> None:
    conn = sqlite3.connect(inbox.path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()
    assert inbox._conn().execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_claims_are_fifo_and_exclusive(inbox: Inbox, clock: Clock) -> None:
    assert inbox.claim("w", 30) is None
    for n in range(3):
        clock.now += 1
        inbox.accept("github", f"d-{n}", {}, str(n).encode())
    got = [inbox.claim("w", 30) for _ in range(4)]
    assert [d.delivery_id if d else None for d in got] == ["d-0", "d-1", "d-2", None]
    first = got[0]
    assert first is not None
    assert (first.state, first.attempts, first.lease_owner, first.lease_until) == (
        CLAIMED, 1, "w", clock.now + 30)
    assert inbox.pending_count() == 3  # claimed deliveries are not finished yet
    assert inbox.counts() == {PENDING: 0, CLAIMED: 3, DONE: 0, FAILED: 0}


def test_an_expired_lease_is_claimable_again(inbox: Inbox, clock: Clock) -> None:
    inbox.accept("github", "d", {}, b"{}")
    first = inbox.claim("worker-1", lease_seconds=10)
    assert first is not None
    clock.now += 9.9
    assert inbox.claim("worker-2", 10) is None  # still leased
    clock.now += 0.2
    again = inbox.claim("worker-2", 10)  # worker-1 died, say: its delivery is replayed
    assert again is not None and again.id == first.id
    assert (again.attempts, again.lease_owner) == (2, "worker-2")
    assert inbox.done(first.id, "worker-1") is False  # the lease is not worker-1's any more
    assert inbox.done(first.id, "worker-2") is True
    assert inbox.done(first.id, "worker-2") is False  # once
    assert inbox.claim("worker-3", 10) is None
    assert inbox.pending_count() == 0
    done = inbox.get(first.id)
    assert done is not None and (done.state, done.lease_owner) == (DONE, None)


def test_extend_keeps_a_long_job_leased(inbox: Inbox, clock: Clock) -> None:
    inbox.accept("github", "d", {}, b"{}")
    held = inbox.claim("w1", 10)
    assert held is not None
    clock.now += 8
    assert inbox.extend(held.id, "w1", 10)
    clock.now += 8
    assert inbox.claim("w2", 10) is None
    assert not inbox.extend(held.id, "w2", 10)


def test_requeue_expired(inbox: Inbox, clock: Clock) -> None:
    for n in range(3):
        inbox.accept("github", f"d-{n}", {}, b"{}")
    inbox.claim("w", 5)
    inbox.claim("w", 50)
    clock.now += 10
    assert inbox.requeue_expired() == 1
    assert inbox.counts() == {PENDING: 2, CLAIMED: 1, DONE: 0, FAILED: 0}


def test_failed_with_retry_and_for_good(inbox: Inbox, clock: Clock) -> None:
    inbox.accept("github", "d", {}, b"{}")
    first = inbox.claim("w", 30)
    assert first is not None
    assert inbox.failed(first.id, "git fetch failed", retry_at=clock.now + 60, worker_id="w")
    assert inbox.claim("w", 30) is None  # not before retry_at
    assert inbox.pending_count() == 1
    clock.now += 61
    second = inbox.claim("w", 30)
    assert second is not None and second.attempts == 2 and second.last_error == "git fetch failed"
    assert inbox.failed(second.id, "x" * 10_000, retry_at=None)
    gone = inbox.get(second.id)
    assert gone is not None and gone.state == FAILED and len(gone.last_error or "") == 4000
    clock.now += 1000
    assert inbox.claim("w", 30) is None and inbox.pending_count() == 0
    assert inbox.failed(second.id, "again", None) is False  # only a claimed delivery can fail


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    box = Inbox(path)
    box.accept("github", "d", {"a": "b"}, b"body")
    box.close()
    again = Inbox(path)
    assert again.accept("github", "d", {}, b"") is False
    delivery = again.claim("w", 1)
    assert delivery is not None and (delivery.body, delivery.headers) == (b"body", {"a": "b"})
    again.close()


def test_concurrent_accepts_from_threads_store_each_delivery_once(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    ids = [f"delivery-{n}" for n in range(150)]
    results: list[list[bool]] = []
    start = threading.Barrier(8)

    def accept_all(seed: int) -> None:
        order = ids[:]
        random.Random(seed).shuffle(order)
        start.wait()
        results.append([inbox.accept("github", d, {}, d.encode()) for d in order])

    threads = [threading.Thread(target=accept_all, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sum(r) for r in results) == len(ids)  # exactly one True per delivery
    conn = sqlite3.connect(inbox.path)
    counts = conn.execute("SELECT COUNT(*), COUNT(DISTINCT delivery_id) FROM deliveries").fetchone()
    assert counts == (150, 150)
    conn.close()
    inbox.close()


def test_concurrent_claims_from_threads_never_share_a_delivery(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    for n in range(120):
        inbox.accept("github", f"d-{n}", {}, b"{}")
    claimed: Counter[int] = Counter()
    lock = threading.Lock()

    def work(name: str) -> None:
        while (delivery := inbox.claim(name, 60)) is not None:
            with lock:
                claimed[delivery.id] += 1
            assert inbox.done(delivery.id, name)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 120 and set(claimed.values()) == {1}
    assert inbox.counts()[DONE] == 120
    inbox.close()


def test_connections_of_finished_threads_are_released(tmp_path: Path) -> None:
    """A threaded HTTP server runs each request on a new thread: no connection may outlive it."""
    inbox = Inbox(tmp_path / "inbox.db")
    threads = [threading.Thread(target=inbox.pending_count) for _ in range(40)]
    for thread in threads:
        thread.start()
        thread.join()
    gc.collect()
    assert len(inbox._connections) <= 2  # this thread's, and at most one not yet collected
    inbox.close()
    assert len(inbox._connections) == 0


def test_deliveries_accepted_together_share_one_transaction(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    accepts = inbox._accepts
    real_land = accepts._land
    batches: list[int] = []
    commits = 0

    def land(batch: list[Any]) -> list[bool]:
        nonlocal commits
        if not batches:  # the first waits until five others have queued behind it
            wait_until(lambda: len(accepts._queue) == 5, "five queued deliveries")
        batches.append(len(batch))
        result = real_land(batch)
        commits += 1
        return result

    monkeypatch.setattr(accepts, "_land", land)
    got: dict[str, list[bool]] = {}
    ids = ["first", "a", "b", "c", "twice", "twice"]  # the same delivery twice in one batch

    def accept(n: int) -> None:
        stored = inbox.accept("github", ids[n], {}, f"body {n}".encode())
        got.setdefault(ids[n], []).append(stored)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(len(ids))]
    threads[0].start()
    wait_until(lambda: accepts._landing, "the first delivery landing")
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert batches == [1, 5] and commits == 2
    assert {key: value for key, value in got.items() if key != "twice"} == {
        "first": [True], "a": [True], "b": [True], "c": [True]}
    assert sorted(got["twice"]) == [False, True]  # stored once, acknowledged as a duplicate once
    assert inbox.pending_count() == 5
    inbox.close()


def test_a_busy_database_answers_each_waiting_delivery_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    inbox = Inbox(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    errors: list[BaseException] = []

    def accept(n: int) -> None:
        try:
            inbox.accept("github", f"d-{n}", {}, b"{}")
        except InboxUnavailableError as err:
            errors.append(err)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 4 and len({id(err) for err in errors}) == 4
    holder.execute("ROLLBACK")
    assert inbox.accept("github", "after", {}, b"{}") is True  # and it carries on
    holder.close()
    inbox.close()
