"""Group commit (runner/group_commit.py): calls queued behind a landing writer land together,
each caller gets its own result or its own exception, and a failed batch leaves it usable.
Batching is controlled with events, never with timing."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.group_commit import GroupCommit
from tests.waiting import wait_until


class Failed(Exception):
    pass


def failed(error: BaseException) -> Failed:
    return Failed(f"batch failed: {error}")


def held_first_batch(queued: int) -> tuple[GroupCommit[int, int], list[list[int]]]:
    """A GroupCommit doubling its items whose first batch waits until `queued` more queued."""
    batches: list[list[int]] = []

    def land(items: list[int]) -> list[int]:
        if not batches:
            wait_until(lambda: len(group._queue) == queued, f"{queued} queued calls")
        batches.append(list(items))
        return [item * 2 for item in items]

    group: GroupCommit[int, int] = GroupCommit(land, failed)
    return group, batches


def run_threads(group: GroupCommit[int, int], items: list[int]) -> dict[int, int | BaseException]:
    """Submit items[0] first; once it is landing, the rest, each from its own thread."""
    results: dict[int, int | BaseException] = {}

    def call(item: int) -> None:
        try:
            results[item] = group.submit(item)
        except BaseException as err:
            results[item] = err

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    threads[0].start()
    wait_until(lambda: group._landing, "the first call landing")
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_calls_queued_behind_a_writer_land_in_one_batch_with_their_own_results() -> None:
    group, batches = held_first_batch(queued=6)
    results = run_threads(group, list(range(1, 8)))
    assert [sorted(batch) for batch in batches] == [[1], [2, 3, 4, 5, 6, 7]]
    assert results == {item: item * 2 for item in range(1, 8)}
    assert group.submit(10) == 20  # and it carries on


def test_every_caller_of_a_failed_batch_raises_its_own_exception() -> None:
    calls = 0

    def land(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk on fire")
        if calls == 1:
            wait_until(lambda: len(group._queue) == 3, "three queued calls")
        return items

    group: GroupCommit[int, int] = GroupCommit(land, failed)
    results = run_threads(group, [1, 2, 3, 4])
    assert results[1] == 1
    errors = [results[item] for item in (2, 3, 4)]
    assert all(isinstance(err, Failed) and "disk on fire" in str(err) for err in errors)
    assert len({id(err) for err in errors}) == 3  # one object per caller (tracebacks differ)
    assert all(isinstance(err, Failed) and isinstance(err.__cause__, OSError) for err in errors)
    assert group.submit(5) == 5  # a failed batch does not leave it stuck


def test_a_land_that_loses_results_fails_the_batch() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: [], failed)
    with pytest.raises(Failed, match="landed 0 of 1"):
        group.submit(1)


def test_keyboard_interrupt_stays_what_it_is() -> None:
    def land(items: list[int]) -> list[int]:
        raise KeyboardInterrupt

    group: GroupCommit[int, int] = GroupCommit(land, failed)
    with pytest.raises(KeyboardInterrupt):
        group.submit(1)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(), min_size=1, max_size=40), st.integers(1, 8))
def test_each_caller_gets_the_result_of_its_own_item(items: list[int], threads: int) -> None:
    landed: list[int] = []

    def land(batch: list[int]) -> list[int]:
        landed.extend(batch)
        return [item * 3 + 1 for item in batch]

    group: GroupCommit[int, int] = GroupCommit(land, failed)
    got: list[tuple[int, int]] = []
    lock = threading.Lock()

    def call(mine: list[int]) -> None:
        for item in mine:
            result = group.submit(item)
            with lock:
                got.append((item, result))

    workers = [threading.Thread(target=call, args=(items[n::threads],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(landed) == sorted(items)  # each landed once
    assert sorted(got) == sorted((item, item * 3 + 1) for item in items)
