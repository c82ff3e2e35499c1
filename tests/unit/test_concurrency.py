"""Flow concurrency slots: the shared ledger, and engines that share it (as `flows serve`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from runner.engine.concurrency import Admission, FlowSlots
from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Collect, ExecutionStateChanged, State
from runner.executors import Executors, LocalExecutor
from tests.unit.engine_helpers import flow_of
from tests.waiting import CEILING

KEY = ("repo", "t.flow")


class LedgerMachine(RuleBasedStateMachine):
    """Random arrivals, releases and cancels, checked against a plain FIFO model."""

    def __init__(self) -> None:
        super().__init__()
        self.slots = FlowSlots()
        self.limit = 1
        self.running: set[str] = set()
        self.waiting: list[str] = []
        self.count = 0

    @initialize(limit=st.integers(1, 3))
    def set_limit(self, limit: int) -> None:
        self.limit = limit

    @rule(queue=st.booleans())
    def arrive(self, queue: bool) -> None:
        self.count += 1
        holder = f"e{self.count}"
        admission = self.slots.acquire(KEY, holder, self.limit, queue=queue)
        if not self.waiting and len(self.running) < self.limit:
            assert admission is Admission.GRANTED
            self.running.add(holder)
        elif queue:
            assert admission is Admission.QUEUED
            self.waiting.append(holder)
        else:
            assert admission is Admission.REJECTED

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        holder = data.draw(st.sampled_from(sorted(self.running)))
        self.slots.release(KEY, holder)
        self.running.discard(holder)
        while self.waiting and len(self.running) < self.limit:
            self.running.add(self.waiting.pop(0))  # the oldest waiter, never a newcomer

    @precondition(lambda self: self.waiting)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        holder = data.draw(st.sampled_from(self.waiting))
        assert self.slots.cancel(KEY, holder)
        self.waiting.remove(holder)
        assert not self.slots.wait(KEY, holder)  # it left the line: nothing to wait for

    @invariant()
    def matches_model(self) -> None:
        view = self.slots.view(KEY)
        assert len(view.running) <= self.limit
        assert set(view.running) == self.running
        assert list(view.waiting) == self.waiting


TestLedger = LedgerMachine.TestCase
TestLedger.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@settings(max_examples=15, deadline=None)
@given(limit=st.integers(1, 3), pauses=st.lists(st.sampled_from([0, 0.001, 0.003]),
                                               min_size=2, max_size=8))
def test_threads_never_exceed_the_limit(limit: int, pauses: list[float]) -> None:
    slots, guard = FlowSlots(), threading.Lock()
    inside: set[str] = set()
    most = 0

    def work(holder: str, pause: float) -> None:
        nonlocal most
        if slots.acquire(KEY, holder, limit, queue=True) is Admission.QUEUED:
            assert slots.wait(KEY, holder)
        with guard:
            inside.add(holder)
            most = max(most, len(inside))
        time.sleep(pause)  # lets other threads interleave; nothing is timed
        with guard:
            inside.discard(holder)
        slots.release(KEY, holder)

    threads = [threading.Thread(target=work, args=(f"e{i}", p)) for i, p in enumerate(pauses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 1 <= most <= limit
    assert slots.view(KEY).running == () and slots.view(KEY).waiting == ()


@settings(max_examples=15, deadline=None)
@given(size=st.integers(2, 7))
def test_queued_threads_start_in_arrival_order(size: int) -> None:
    slots, arrived, entered = FlowSlots(), [], []
    guard = threading.Lock()
    assert slots.acquire(KEY, "first", 1, queue=True) is Admission.GRANTED

    def work(holder: str) -> None:
        with guard:  # the line's order is the order acquire() is called in
            assert slots.acquire(KEY, holder, 1, queue=True) is Admission.QUEUED
            arrived.append(holder)
        assert slots.wait(KEY, holder)
        entered.append(holder)  # limit 1: only the holder appends
        slots.release(KEY, holder)

    threads = [threading.Thread(target=work, args=(f"e{i}",)) for i in range(size)]
    for thread in threads:
        thread.start()
    while len(slots.view(KEY).waiting) < size:
        time.sleep(0.005)
    slots.release(KEY, "first")
    for thread in threads:
        thread.join(30)
    assert entered == arrived


def test_a_cancelled_waiter_leaves_the_line() -> None:
    slots, token = FlowSlots(), threading.Event()
    slots.acquire(KEY, "a", 1, queue=True)
    assert slots.acquire(KEY, "b", 1, queue=True) is Admission.QUEUED
    assert slots.acquire(KEY, "c", 1, queue=True) is Admission.QUEUED
    token.set()
    assert not slots.wait(KEY, "b", token)
    assert slots.view(KEY).waiting == ("c",)
    slots.release(KEY, "a")
    assert slots.view(KEY).running == ("c",)


# -- engines sharing one ledger (each `flows serve` run has its own Engine) ------------

GATE = """
id: gated
namespace: t
concurrency:
  limit: 1
  behavior: {behavior}
tasks:
  - id: gate
    type: io.kestra.plugin.core.flow.Pause
  - id: done
    type: io.kestra.plugin.core.debug.Return
    format: ok
"""


class Runs:
    """One Engine per run, all handed the same FlowSlots."""

    def __init__(self, tmp_path: Path, slots: FlowSlots) -> None:
        self.tmp_path, self.slots = tmp_path, slots
        self.events = Collect()
        self.engines: dict[str, Engine] = {}
        self.threads: list[threading.Thread] = []

    def start(self, behavior: str = "QUEUE", scope: str = "repo") -> Execution:
        engine = Engine(Executors(LocalExecutor()), self.events, environ={},
                        data_dir=self.tmp_path / "data", work_root=self.tmp_path,
                        slots=self.slots, slot_scope=scope)
        execution = engine.prepare(flow_of(GATE.format(behavior=behavior)))
        self.engines[execution.id] = engine
        thread = threading.Thread(target=engine.execute, args=(execution,))
        thread.start()
        self.threads.append(thread)
        return execution

    def states(self, execution: Execution) -> list[State]:
        return [e.state for e in list(self.events.events)
                if isinstance(e, ExecutionStateChanged) and e.execution_id == execution.id]

    def wait_state(self, execution: Execution, state: State) -> None:
        deadline = time.monotonic() + CEILING
        while state not in self.states(execution):
            assert time.monotonic() < deadline, f"{execution.id}: {self.states(execution)}"
            time.sleep(0.01)

    def resume(self, execution: Execution) -> None:
        self.wait_state(execution, State.PAUSED)
        assert self.engines[execution.id].resume(execution.id)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)


def test_separate_engines_queue_behind_one_another_and_a_killed_one_leaves(
        tmp_path: Path) -> None:
    runs = Runs(tmp_path, FlowSlots())
    first = runs.start()
    runs.wait_state(first, State.PAUSED)
    second, third = runs.start(), runs.start()
    runs.wait_state(second, State.QUEUED)
    runs.wait_state(third, State.QUEUED)
    assert runs.engines[second.id].kill(second.id)
    runs.wait_state(second, State.KILLED)
    runs.resume(first)
    runs.resume(third)
    runs.join()
    assert runs.states(second) == [State.QUEUED, State.KILLED]  # never ran
    assert runs.states(third)[:2] == [State.QUEUED, State.RUNNING]
    assert first.state.current is State.SUCCESS and third.state.current is State.SUCCESS
    # the third started only once the first had ended
    ended = runs.events.events.index(next(
        e for e in runs.events.events if isinstance(e, ExecutionStateChanged)
        and e.execution_id == first.id and e.state is State.SUCCESS))
    started = runs.events.events.index(next(
        e for e in runs.events.events if isinstance(e, ExecutionStateChanged)
        and e.execution_id == third.id and e.state is State.RUNNING))
    assert ended < started


def test_cancel_and_fail_behaviours_end_the_extra_run_without_running_it(
        tmp_path: Path) -> None:
    runs = Runs(tmp_path, FlowSlots())
    first = runs.start("CANCEL")
    runs.wait_state(first, State.PAUSED)
    cancelled, failed = runs.start("CANCEL"), runs.start("FAIL")
    runs.wait_state(cancelled, State.CANCELLED)
    runs.wait_state(failed, State.FAILED)
    runs.resume(first)
    runs.join()
    assert runs.states(cancelled) == [State.CANCELLED]
    assert runs.states(failed) == [State.FAILED]
    assert first.state.current is State.SUCCESS


def test_scopes_keep_same_flow_ids_of_two_repositories_apart(tmp_path: Path) -> None:
    runs = Runs(tmp_path, FlowSlots())
    ours = runs.start(scope="ours")
    theirs = runs.start(scope="theirs")
    runs.wait_state(ours, State.PAUSED)
    runs.wait_state(theirs, State.PAUSED)  # while ours holds its slot: not queued behind it
    runs.resume(ours)
    runs.resume(theirs)
    runs.join()
    assert State.QUEUED not in runs.states(theirs)
