"""The Schedule trigger's scheduler: fire times, time zones and DST, no double fire across
restarts, the missed-tick policy, backfill, stopAfter and the trigger variables."""

from __future__ import annotations

import datetime as dt
import textwrap
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.language.parse import parse_flow
from runner.tasks import Registry, core, flow, git_triggers, scripts
from runner.triggers.schedule import Schedule, latest_tick, next_tick, previous_tick, schedules_of
from webhooks.loops.schedule import Scheduler, Tick

UTC = dt.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MIN = dt.timedelta(minutes=1)


class FakeClock:
    def __init__(self, now: dt.datetime) -> None:
        self.at = now

    def now(self) -> dt.datetime:
        return self.at


def spec(cron: str = "* * * * *", trigger: str = "t", **kw: object) -> Schedule:
    return Schedule("octo/hello", "demo", "nightly", trigger, cron, **kw)  # type: ignore[arg-type]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "data" / "schedule.sqlite"


def scheduler(state: Path, *specs: Schedule, **kw: object) -> Scheduler:
    s = Scheduler(state, **kw)  # type: ignore[arg-type]
    s.update(specs)
    return s


def walk(s: Scheduler, start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> Iterator[Tick]:
    at = start
    while at <= end:
        yield from s.due(at)
        at += step


def at(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)  # type: ignore[misc]


# --- fire times, zones, DST -------------------------------------------------------------------

def test_daily_in_a_time_zone_across_the_spring_dst_change(state: Path) -> None:
    daily = spec("@daily", timezone="Europe/Paris")
    s = scheduler(state, daily)
    fired = list(walk(s, at(2024, 3, 29, 12), at(2024, 4, 2, 12), dt.timedelta(minutes=15)))
    assert [t.scheduled_time.isoformat() for t in fired] == [
        "2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00", "2024-04-02T00:00:00+02:00"]
    elapsed = fired[2].scheduled_time.astimezone(UTC) - fired[1].scheduled_time.astimezone(UTC)
    assert elapsed == dt.timedelta(hours=23)
    assert fired[1].variables() == {"date": "2024-03-31T00:00:00+01:00",
                                    "next": "2024-04-01T00:00:00+02:00",
                                    "previous": "2024-03-30T00:00:00+01:00"}


def test_hourly_on_dst_days_counts_real_hours(state: Path) -> None:
    s = scheduler(state, spec("@hourly", timezone="Europe/Paris"))
    fired = list(walk(s, at(2024, 10, 26, 21, 30), at(2024, 10, 27, 23, 30), dt.timedelta(minutes=10)))
    local_days = [t.scheduled_time.date() for t in fired]
    assert local_days.count(dt.date(2024, 10, 27)) == 25, "autumn: 25 hours"
    assert len({t.scheduled_time.astimezone(UTC) for t in fired}) == len(fired)
    spring = scheduler(state.with_name("spring.sqlite"), spec("@hourly", timezone="Europe/Paris"))
    fired = list(walk(spring, at(2024, 3, 30, 22, 30), at(2024, 3, 31, 22, 30), dt.timedelta(minutes=10)))
    assert [t.scheduled_time.date() for t in fired].count(dt.date(2024, 3, 31)) == 23, "spring: 23"


def test_fixed_hour_jobs_fire_once_on_both_dst_days(state: Path) -> None:
    s = scheduler(state, spec("30 2 * * *", timezone="Europe/Paris"))
    autumn = list(walk(s, at(2024, 10, 26, 12), at(2024, 10, 28, 12), dt.timedelta(minutes=10)))
    assert [t.scheduled_time.isoformat() for t in autumn] == [
        "2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]
    s2 = scheduler(state.with_name("s2.sqlite"), spec("30 2 * * *", timezone="Europe/Paris"))
    spring = list(walk(s2, at(2024, 3, 30, 12), at(2024, 4, 1, 12), dt.timedelta(minutes=10)))
    assert [t.scheduled_time.isoformat() for t in spring] == [
        "2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"], "the skipped 02:30 runs after the jump"


def test_cron_with_time_zone_and_weekdays(state: Path) -> None:
    s = scheduler(state, spec("0 9 * * 1-5", timezone="America/New_York"))
    fired = list(walk(s, at(2024, 3, 8, 0), at(2024, 3, 12, 23), dt.timedelta(minutes=30)))
    assert [t.scheduled_time.isoformat() for t in fired] == [
        "2024-03-08T09:00:00-05:00", "2024-03-11T09:00:00-04:00", "2024-03-12T09:00:00-04:00"]
    assert [t.scheduled_time.astimezone(UTC).hour for t in fired] == [14, 13, 13]


def test_with_seconds(state: Path) -> None:
    s = scheduler(state, spec("*/20 * * * * *", with_seconds=True))
    fired = list(walk(s, at(2024, 1, 1, 10, 0, 1), at(2024, 1, 1, 10, 2, 0), dt.timedelta(seconds=7)))
    assert [t.scheduled_time.strftime("%M:%S") for t in fired] == [
        "00:20", "00:40", "01:00", "01:20", "01:40", "02:00"]


def test_fire_time_helpers() -> None:
    daily = spec("@daily", timezone="Europe/Paris")
    assert next_tick(daily, at(2024, 1, 1, 12)) == at(2024, 1, 2, tz=PARIS)
    assert previous_tick(daily, at(2024, 1, 2, tz=PARIS)) == at(2024, 1, 1, tz=PARIS)
    assert latest_tick(daily, at(2024, 1, 10, 12), at(2024, 1, 1, 12)) == at(2024, 1, 10, tz=PARIS)
    assert latest_tick(daily, at(2024, 1, 1, 20), at(2024, 1, 1, 12)) is None
    leap = spec("0 0 29 2 *")
    assert previous_tick(leap, at(2025, 1, 1)) == at(2024, 2, 29)


# --- no double fire ---------------------------------------------------------------------------

def test_restart_fires_nothing_twice(state: Path) -> None:
    minute, daily = spec(), spec("@daily", trigger="d")
    first = scheduler(state, minute, daily)
    fired = list(walk(first, at(2024, 1, 1, 23, 55), at(2024, 1, 2, 0, 5), dt.timedelta(seconds=20)))
    assert len(fired) == 11  # 23:56 .. 00:05 and the daily 00:00
    first.close()
    again = scheduler(state, minute, daily)
    assert list(walk(again, at(2024, 1, 1, 23, 55), at(2024, 1, 2, 0, 5), dt.timedelta(seconds=20))) == []
    assert [t.scheduled_time for t in again.due(at(2024, 1, 2, 0, 6))] == [at(2024, 1, 2, 0, 6)]


def test_two_schedulers_on_one_file_share_the_ticks(state: Path) -> None:
    a, b = scheduler(state, spec()), scheduler(state, spec())
    fired = a.due(at(2024, 1, 1, 10)) + b.due(at(2024, 1, 1, 10))
    for minute in range(1, 30):
        now = at(2024, 1, 1, 10) + minute * MIN
        fired += a.due(now) + b.due(now + dt.timedelta(seconds=1)) + a.due(now + dt.timedelta(seconds=2))
    times = [t.scheduled_time for t in fired]
    assert len(times) == len(set(times)) == 29


def test_first_sight_does_not_fire_the_past(state: Path) -> None:
    s = scheduler(state, spec("@hourly"))
    assert s.due(at(2024, 1, 1, 10, 0, 30)) == []
    assert [t.scheduled_time for t in s.due(at(2024, 1, 1, 11, 0, 2))] == [at(2024, 1, 1, 11)]


def test_clock_is_injectable_and_naive_times_are_refused(state: Path) -> None:
    clock = FakeClock(at(2024, 1, 1, 10, 0, 30))
    s = Scheduler(state, clock)
    s.update([spec()])
    assert s.due() == []
    clock.at += MIN
    assert [t.scheduled_time for t in s.due()] == [at(2024, 1, 1, 10, 1)]
    with pytest.raises(ValueError, match="time-zone-aware"):
        s.due(dt.datetime(2024, 1, 1, 11))


# --- missed ticks -----------------------------------------------------------------------------

def test_after_downtime_only_the_most_recent_missed_tick_fires(state: Path) -> None:
    s = scheduler(state, spec("@hourly"))
    s.due(at(2024, 1, 1, 9, 0, 30))
    assert [t.scheduled_time for t in s.due(at(2024, 1, 1, 10, 0, 5))] == [at(2024, 1, 1, 10)]
    poll = s.poll(at(2024, 1, 1, 14, 20))  # down from 10:00:05 to 14:20
    assert [t.scheduled_time for t in poll.ticks] == [at(2024, 1, 1, 14)]
    [skip] = poll.skipped
    assert (skip.first, skip.last) == (at(2024, 1, 1, 11), at(2024, 1, 1, 13))
    assert "only the most recent missed tick" in skip.reason and "skipped" in str(skip)
    assert s.poll(at(2024, 1, 1, 14, 30)) == type(poll)((), ())


def test_late_maximum_delay_skips_too_late_ticks(state: Path) -> None:
    s = scheduler(state, spec("@hourly", late_maximum_delay=dt.timedelta(minutes=10)))
    s.due(at(2024, 1, 1, 9, 0, 30))
    poll = s.poll(at(2024, 1, 1, 12, 20))
    assert poll.ticks == ()
    assert [(k.first.hour, k.last.hour) for k in poll.skipped] == [(10, 11), (12, 12)]
    assert "lateMaximumDelay" in poll.skipped[1].reason
    assert [t.scheduled_time for t in s.due(at(2024, 1, 1, 13, 9))] == [at(2024, 1, 1, 13)]


def test_ticks_within_grace_all_fire_and_older_ones_are_skipped(state: Path) -> None:
    s = scheduler(state, spec("*/10 * * * * *", with_seconds=True), grace=dt.timedelta(seconds=30))
    s.due(at(2024, 1, 1, 10))
    poll = s.poll(at(2024, 1, 1, 10, 1, 0))  # 10:00:10 .. 10:01:00 due; 10:00:30 is the horizon
    assert [t.scheduled_time.second for t in poll.ticks] == [40, 50, 0]
    assert [(k.first.second, k.last.second) for k in poll.skipped] == [(10, 30)]


def test_a_late_poll_within_grace_still_fires(state: Path) -> None:
    s = scheduler(state, spec())
    s.due(at(2024, 1, 1, 10, 0, 0))
    assert [t.scheduled_time for t in s.due(at(2024, 1, 1, 10, 1, 50))] == [
        at(2024, 1, 1, 10, 1)], "50 s late: within the grace minute"
    poll = s.poll(at(2024, 1, 1, 10, 3, 30))
    assert [t.scheduled_time for t in poll.ticks] == [at(2024, 1, 1, 10, 3)]
    assert [(k.first, k.last) for k in poll.skipped] == [(at(2024, 1, 1, 10, 2), at(2024, 1, 1, 10, 2))]


# --- backfill ---------------------------------------------------------------------------------

def test_backfill_fires_every_tick_from_start(state: Path) -> None:
    s = scheduler(state, spec("@daily", backfill_start=at(2024, 1, 1)))
    fired = s.due(at(2024, 1, 5, 12))
    assert [t.scheduled_time.day for t in fired] == [1, 2, 3, 4, 5]
    assert all(t.backfill for t in fired)
    assert fired[0].previous == at(2023, 12, 31) and fired[1].previous == at(2024, 1, 1)
    assert s.due(at(2024, 1, 5, 13)) == []
    assert [t.scheduled_time.day for t in s.due(at(2024, 1, 8, 1))] == [6, 7, 8], \
        "with backfill, missed ticks after downtime all fire"


def test_backfill_is_bounded_per_poll(state: Path) -> None:
    s = scheduler(state, spec(backfill_start=at(2024, 1, 1, 10)), max_ticks=100)
    now = at(2024, 1, 1, 14, 9, 30)  # 250 minutes: 10:00 .. 14:09
    sizes = [len(s.due(now)) for _ in range(4)]
    assert sizes == [100, 100, 50, 0]


def test_backfill_start_accepts_naive_and_fractional_times(state: Path) -> None:
    s = scheduler(state, spec("@hourly", timezone="Europe/Paris",
                              backfill_start=dt.datetime(2024, 1, 1, 9, 59, 59, 500000, tzinfo=PARIS)))
    assert [t.scheduled_time.hour for t in s.due(at(2024, 1, 1, 11, 30))] == [10, 11, 12]


def test_backfill_end_then_default_policy(state: Path) -> None:
    s = scheduler(state, spec("@daily", backfill_start=at(2024, 1, 1), backfill_end=at(2024, 1, 3)))
    poll = s.poll(at(2024, 1, 10, 0, 0, 20))
    assert [(t.scheduled_time.day, t.backfill) for t in poll.ticks] == [
        (1, True), (2, True), (3, True), (10, False)]
    assert [(k.first.day, k.last.day) for k in poll.skipped] == [(4, 9)]


def test_new_backfill_start_rewinds_without_refiring(state: Path) -> None:
    s = scheduler(state, spec("@daily", backfill_start=at(2024, 1, 3)))
    assert [t.scheduled_time.day for t in s.due(at(2024, 1, 4, 12))] == [3, 4]
    s.update([spec("@daily", backfill_start=at(2024, 1, 1))])
    assert [t.scheduled_time.day for t in s.due(at(2024, 1, 4, 12))] == [1, 2]
    restarted = scheduler(state, spec("@daily", backfill_start=at(2024, 1, 1)))
    assert restarted.due(at(2024, 1, 4, 12)) == []


# --- stopAfter, updates, pruning --------------------------------------------------------------

def test_stop_after_and_enable(state: Path) -> None:
    s = scheduler(state, spec(stop_after=("FAILED",)))
    s.due(at(2024, 1, 1, 10))
    [tick] = s.due(at(2024, 1, 1, 10, 1))
    assert not s.finished(tick, "SUCCESS")
    assert s.finished(tick, "failed")
    assert s.stopped(tick.key) == "FAILED"
    other = scheduler(state, spec(stop_after=("FAILED",)))
    assert s.due(at(2024, 1, 1, 10, 5)) == [] and other.due(at(2024, 1, 1, 10, 5)) == []
    s.enable(tick.key, at(2024, 1, 1, 10, 30))
    assert s.stopped(tick.key) is None
    assert [t.scheduled_time for t in other.due(at(2024, 1, 1, 10, 31))] == [at(2024, 1, 1, 10, 31)]


def test_update_changes_the_cron(state: Path) -> None:
    s = scheduler(state, spec("@daily"))
    s.due(at(2024, 1, 1, 10))
    assert s.due(at(2024, 1, 1, 10, 1)) == []
    s.update([spec("* * * * *")])
    assert [t.scheduled_time for t in s.due(at(2024, 1, 1, 10, 2))] == [at(2024, 1, 1, 10, 2)]
    s.update([])
    assert s.due(at(2024, 1, 1, 10, 3)) == []


def test_prune_forgets_old_claims_only(state: Path) -> None:
    s = scheduler(state, spec())
    list(walk(s, at(2024, 1, 1, 10), at(2024, 1, 1, 10, 10), MIN))
    assert s.prune(at(2024, 1, 1, 10, 5)) == 4
    assert s.due(at(2024, 1, 1, 10, 10)) == []


# --- from the flow ----------------------------------------------------------------------------

FLOW = textwrap.dedent("""\
    id: nightly
    namespace: demo
    tasks:
      - id: hello
        type: io.kestra.plugin.core.log.Log
        message: hi
    triggers:
      - id: daily
        type: io.kestra.plugin.core.trigger.Schedule
        cron: "0 3 * * *"
        timezone: Europe/Paris
        inputs: {who: cron}
        stopAfter: [FAILED]
        lateMaximumDelay: PT1H
        backfill:
          start: 2024-01-01T00:00:00Z
      - id: legacy
        type: io.kestra.core.models.triggers.types.Schedule
        cron: "@hourly"
        backfill:
          start: 2024-02-01
      - id: off
        type: io.kestra.plugin.core.trigger.Schedule
        cron: "@daily"
        disabled: true
      - id: dynamic
        type: io.kestra.plugin.core.trigger.Schedule
        cron: "{{ vars.cron }}"
    """)


def test_schedules_of_a_parsed_flow() -> None:
    registry = Registry([*core.TYPES, *flow.TYPES, *scripts.TYPES, *git_triggers.TYPES])
    parsed, _ = parse_flow(FLOW, "nightly.yml", registry)
    assert parsed is not None
    found, problems = schedules_of("octo/hello", parsed)
    assert [s.trigger_id for s in found] == ["daily", "legacy"]
    daily, legacy = found
    assert daily.key == ("octo/hello", "demo", "nightly", "daily")
    assert (daily.timezone, daily.inputs, daily.stop_after) == ("Europe/Paris", {"who": "cron"}, ("FAILED",))
    assert daily.late_maximum_delay == dt.timedelta(hours=1)
    assert daily.backfill_start == at(2024, 1, 1)
    assert legacy.backfill_start == at(2024, 2, 1)
    assert problems == ["octo/hello:demo.nightly/dynamic: cron must be a plain cron expression"]


def test_invalid_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="field"):
        spec("61 * * * *")
    with pytest.raises(ValueError, match="unknown time zone"):
        spec(timezone="Mars/Olympus")


def test_a_failed_fire_undoes_the_claim_so_the_tick_is_not_lost(state: Path) -> None:
    s = scheduler(state, spec())
    s.due(at(2024, 1, 1, 0, 0))  # first sight: starts from now

    def crash(tick: Tick) -> None:
        raise RuntimeError("the server died while queueing the run")

    with pytest.raises(RuntimeError):
        s.poll(at(2024, 1, 1, 0, 1), fire=crash)
    queued: list[Tick] = []
    again = scheduler(state, spec())  # a restart
    again.poll(at(2024, 1, 1, 0, 1, 10), fire=queued.append)
    assert [t.scheduled_time for t in queued] == [at(2024, 1, 1, 0, 1)]
    assert again.poll(at(2024, 1, 1, 0, 1, 30), fire=queued.append).ticks == ()
