"""The server's event-trigger loop: a batch's runs and cursor commit together, the source
hears about it after the commit, errors never show secrets, a replayed batch runs once.

The trigger type here is the test's own (a consume-style source over a real file); the
plugin families test their types through a real `flows serve`.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from runner.executors import Executors, LocalExecutor
from runner.model import Flow, Position, Trigger
from runner.ports.polling import Batch, TriggerContext, TriggerEvent, redact
from runner.tasks import default_registry
from runner.tasks.registry import Registry, TypeDef
from tests.integration.test_hooks import commit, git
from webhooks.config import RepoConfig, ServerConfig
from webhooks.loops.event_triggers import EventTriggers, Watch, watches_of
from webhooks.runs.service import FlowService

FLOW = """\
id: consumer
namespace: demo
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


class LineSource:
    """Consume-style: every line of a file is a message; acknowledged lines are dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished: list[bool] = []
        self.seen_props: list[dict[str, Any]] = []

    def poll(self, ctx: TriggerContext) -> Batch:
        self.seen_props.append(dict(ctx.props))
        lines = [line for line in self.path.read_text().splitlines() if line]
        events = [TriggerEvent(f"line-{line}", {"message": line}) for line in lines]

        def finish(committed: bool) -> None:
            self.finished.append(committed)
            if committed:
                self.path.write_text("")

        count = (ctx.cursor or {}).get("count", 0) + len(events)
        return Batch(events, {"count": count}, finish)


def _setup(tmp_path: Path, props: dict[str, Any], poll: Any,
           environ: dict[str, str] | None = None) -> tuple[FlowService, EventTriggers, Watch]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/consumer.yml", FLOW, "flow")
    config = ServerConfig(data_dir=tmp_path / "data",
                          repos=(RepoConfig(name="demo", location=str(repo)),))
    service = FlowService(config, Executors(LocalExecutor()), environ=environ or {})
    typedef = TypeDef(name="test.trigger.Lines", kind="trigger", title="lines", poll=poll)
    registry = Registry([*default_registry(), typedef])
    flow = service.catalog.flows("demo")[0].flow
    assert flow is not None
    trigger = Trigger("lines", typedef.name, Position("consumer.yml", 1, 1),
                      {"interval": "PT0.5S", **props})
    flow = dataclasses.replace(flow, triggers=(trigger,))
    watches, problems = watches_of("demo", service.repos["demo"].resolve("HEAD"), flow, registry)
    assert problems == [] and len(watches) == 1 and watches[0].interval == 0.5
    return service, EventTriggers(service, registry), watches[0]


def test_a_batch_queues_one_run_per_event_and_acknowledges_after_the_commit(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.txt"
    inbox.write_text("a\nb\n")
    source = LineSource(inbox)
    service, loop, watch = _setup(tmp_path, {"path": str(inbox)}, source.poll)
    assert loop.poll_once(watch) == 2
    assert source.finished == [True] and inbox.read_text() == ""
    assert service.intake.queue.cursor(watch.key) == {"count": 2}
    queued = [service.intake.queue.claim("test", 60) for _ in range(3)]
    runs = [q for q in queued if q is not None]
    assert sorted(r.trigger["message"] for r in runs) == ["a", "b"]
    assert {r.trigger["type"] for r in runs} == {"event"}
    assert {(r.trigger["id"], r.trigger["source"]) for r in runs} == {("lines", "test.trigger.Lines")}
    assert loop.poll_once(watch) == 0  # nothing new: nothing queued, the cursor stays
    assert service.intake.queue.cursor(watch.key) == {"count": 2}
    service.close()


def test_a_redelivered_batch_runs_once(tmp_path: Path) -> None:
    """A crash between the commit and the acknowledgement redelivers the same messages:
    their keys are in the queue already, so they do not run again."""
    inbox = tmp_path / "inbox.txt"
    inbox.write_text("a\n")
    source = LineSource(inbox)
    service, loop, watch = _setup(tmp_path, {}, lambda ctx: Batch(
        source.poll(ctx).events, None, None))  # never acknowledges: as if killed before ack
    assert loop.poll_once(watch) == 1
    inbox.write_text("a\nc\n")
    assert loop.poll_once(watch) == 1  # only c is new
    assert service.intake.queue.counts() == {"queued": 2}
    service.close()


def test_a_failed_commit_is_reported_to_the_source_and_keeps_the_cursor(tmp_path: Path) -> None:
    class Unsaveable:
        def __str__(self) -> str:
            raise RuntimeError("cannot save this cursor")

    finished: list[bool] = []
    service, loop, watch = _setup(tmp_path, {}, lambda ctx: Batch(
        [TriggerEvent("x", {"n": 1})], {"bad": Unsaveable()}, finished.append))
    assert loop.poll_once(watch) == 0
    assert finished == [False]
    assert service.intake.queue.counts() == {} and service.intake.queue.cursor(watch.key) is None
    service.close()


def test_poll_errors_and_logs_never_show_secrets_or_url_passwords(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    password = "hunter2-very-secret"
    environ = {"SECRET_DB_PASSWORD": base64.b64encode(password.encode()).decode()}

    def poll(ctx: TriggerContext) -> Batch:
        assert ctx.props["password"] == password  # rendered through secret()
        ctx.log("INFO", f"connecting with {ctx.props['password']}")
        raise ConnectionError(f"cannot reach postgresql://app:{password}@db:5432/x "
                              f"or amqp://guest:guest@localhost/")

    service, loop, watch = _setup(tmp_path, {"password": "{{ secret('DB_PASSWORD') }}"}, poll, environ)
    with caplog.at_level(logging.INFO, logger="gitflows.triggers"):
        assert loop.poll_once(watch) == 0
        assert loop.poll_once(watch) == 0  # the same error is logged once, not every poll
    text = caplog.text
    assert password not in text and "guest@" not in text
    assert "connecting with ******" in text
    assert text.count("poll failed") == 1
    service.close()


def test_a_bad_interval_is_reported_and_the_trigger_left_out(tmp_path: Path) -> None:
    typedef = TypeDef(name="test.trigger.Lines", kind="trigger", title="lines",
                      poll=lambda ctx: Batch())
    trigger = Trigger("lines", typedef.name, Position("f.yml", 3, 5), {"interval": "soon"})
    flow = Flow(id="f", namespace="demo", position=Position("f.yml", 1, 1), tasks=(),
                triggers=(trigger,))
    watches, problems = watches_of("demo", "0" * 40, flow, Registry([typedef]))
    assert watches == [] and len(problems) == 1 and "demo.f trigger lines: interval" in problems[0]


@pytest.mark.parametrize(("text", "shown"), [
    ("postgresql://app:s3cr3t@db:5432/x", "postgresql://app:******@db:5432/x"),
    ("jdbc:postgresql://u:p@h/db", "jdbc:postgresql://u:******@h/db"),
    ("amqp://guest:guest@localhost:5672/ and redis://:pw@r:6379/0", "amqp://guest:******@localhost:5672/ "
     "and redis://:******@r:6379/0"),
    ("no url here: user:pass@host", "no url here: user:pass@host"),
    ("https://example.test/path?q=1", "https://example.test/path?q=1"),
])
def test_redact_hides_url_passwords(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_realtime_triggers_poll_often_others_every_minute_by_default(tmp_path: Path) -> None:
    types = [TypeDef(name=name, kind="trigger", title="t", poll=lambda ctx: Batch())
             for name in ("io.example.mq.RealtimeTrigger", "io.example.mq.Trigger")]
    triggers = tuple(Trigger(f"t{i}", t.name, Position("f.yml", 3, 5)) for i, t in enumerate(types))
    flow = Flow(id="f", namespace="demo", position=Position("f.yml", 1, 1), tasks=(), triggers=triggers)
    watches, _ = watches_of("demo", "0" * 40, flow, Registry(types))
    assert [w.interval for w in watches] == [0.5, 60.0]
