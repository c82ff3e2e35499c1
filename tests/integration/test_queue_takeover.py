"""A run whose server died is taken over after its lease, unless the run had ended: a
kill -9 between the final state reaching the history and the queue marking the run done
must not run it a second time."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from runner.events import iso
from runner.executors import Executors, LocalExecutor
from runner.history.records import HistoryEvent
from tests.integration.test_hooks import commit, git
from tests.waiting import CEILING
from webhooks.config import RepoConfig, ServerConfig
from webhooks.runs.service import FlowService
from webhooks.runs.workers import QueueWorker

FLOW = """\
id: hello
namespace: demo
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def _service(tmp_path: Path) -> tuple[FlowService, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/hello.yml", FLOW, "flow")
    config = ServerConfig(data_dir=tmp_path / "data", repos=(RepoConfig(name="demo", location=str(repo)),))
    service = FlowService(config, Executors(LocalExecutor()), environ={})
    return service, service.repos["demo"].resolve("HEAD")


def _dead_claim(service: FlowService, head: str, execution: str, state: str | None) -> None:
    """What a server killed with -9 leaves: a claimed run, its lease run out; the history
    has the execution's events up to `state`."""
    assert service.intake.enqueue("k1", "demo", "demo", "hello", head, {"type": "manual"})
    item = service.intake.queue.claim("dead-server", 0.01)
    assert item is not None
    service.intake.queue.started(item.id, execution)
    now = iso(dt.datetime.now(dt.UTC))
    events = [HistoryEvent(t=now, run=execution, seq=0, flow="demo.hello", state="RUNNING",
                           trigger="manual", runner="test")]
    if state:
        events.append(HistoryEvent(t=now, run=execution, seq=1, flow="demo.hello", state=state,
                                   trigger="manual", runner="test"))
    service.repos.history("demo").append(head, events)
    time.sleep(0.05)


def _take_over(service: FlowService) -> None:
    worker = QueueWorker(service, service.intake.queue, lease=5)
    worker.start()
    deadline = time.monotonic() + CEILING
    while service.intake.queue.counts() != {"done": 1}:
        assert time.monotonic() < deadline, service.intake.queue.counts()
        time.sleep(0.05)
    worker.stop()


def test_a_run_that_had_ended_is_not_run_again(tmp_path: Path) -> None:
    service, head = _service(tmp_path)
    _dead_claim(service, head, "01DEADENDED0000000000000000", "SUCCESS")
    _take_over(service)
    assert service.registry.recent() == []  # nothing started again
    states = [e.state for e in service.repos.history("demo").run("01DEADENDED0000000000000000")]
    assert states == ["RUNNING", "SUCCESS"]  # no KILLED verdict over a finished run
    service.close()


def test_a_run_cut_off_mid_way_runs_again_under_the_same_execution_id(tmp_path: Path) -> None:
    service, head = _service(tmp_path)
    dead = "01DEADMIDWAY000000000000000"
    _dead_claim(service, head, dead, None)
    _take_over(service)
    deadline = time.monotonic() + CEILING
    while not service.registry.recent() or service.registry.recent()[0]["state"]["current"] != "SUCCESS":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [run["id"] for run in service.registry.recent()] == [dead]
    events = sorted(service.repos.history("demo").run(dead), key=lambda e: e.seq)
    # the dead attempt's RUNNING, the take-over, then the new attempt above both
    assert [e.state for e in events] == ["RUNNING", "RESTARTED", "RUNNING", "SUCCESS"]
    assert len({e.seq for e in events}) == len(events)
    service.close()
