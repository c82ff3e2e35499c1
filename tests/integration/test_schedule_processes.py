"""Four processes poll one schedule state file through a simulated hour of minute ticks:
every tick fires exactly once in total."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path
from typing import Any

from runner.triggers.schedule import Schedule, next_tick
from webhooks.loops.schedule import Scheduler

START = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)  # 01:30 -> 03:30 in Paris: the DST jump
TRIGGERS = 8
PROCESSES = 4
ROUNDS = 361  # polls 10 simulated seconds apart: one hour and its last moment


def schedules() -> list[Schedule]:
    crons = ["* * * * *", "*/5 * * * *", "@hourly", "0,30 * * * *"]
    return [Schedule("octo/hello", "demo", f"flow{n}", "t", crons[n % len(crons)],
                     timezone="Europe/Paris" if n % 2 else "UTC") for n in range(TRIGGERS)]


def poll_for_an_hour(state: str, offset: float, barrier: Any, results: Any) -> None:
    scheduler = Scheduler(Path(state))
    scheduler.update(schedules())
    scheduler.due(START)  # every process sees the triggers before the hour starts
    fired: list[tuple[str, str]] = []
    end = START + dt.timedelta(hours=1)
    for step in range(ROUNDS):
        barrier.wait()  # every process polls each simulated moment together: they race for it
        now = START + dt.timedelta(seconds=offset + 10 * step)
        if now <= end:
            fired += [(t.flow_id, t.scheduled_time.astimezone(dt.UTC).isoformat())
                      for t in scheduler.due(now)]
    results.put(fired)
    scheduler.close()


def expected() -> set[tuple[str, str]]:
    want = set()
    for spec in schedules():
        at = START
        while True:
            at = next_tick(spec, at)
            if at > START + dt.timedelta(hours=1):
                break
            want.add((spec.flow_id, at.astimezone(dt.UTC).isoformat()))
    return want


def test_four_processes_fire_each_tick_exactly_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    state = str(tmp_path / "schedule.sqlite")
    workers = [ctx.Process(target=poll_for_an_hour, args=(state, n * 2.5, barrier, results))
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    per_process = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    fired = [tick for ticks in per_process for tick in ticks]
    assert len(fired) == len(set(fired)), "a tick fired twice"
    assert set(fired) == expected()
    assert len(fired) == 60 * 2 + 12 * 2 + 1 * 2 + 2 * 2
    assert sum(1 for ticks in per_process if ticks) >= 2, "the processes did compete"
