"""io.kestra.plugin.mqtt.* against the real mosquitto on 127.0.0.1:1883: the tasks through
`flows run`, the triggers' exactly-once logic through their poll, and both triggers through
a real `flows serve` that is killed with -9 and restarted."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from runner.plugins import mqtt as plugin
from runner.ports.polling import Batch, TriggerContext, TriggerEvent
from tests.conftest import Server, _missing, run_cli
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call
from tests.waiting import CEILING

SERVER = "tcp://127.0.0.1:1883"


@pytest.fixture(scope="session")
def mosquitto() -> str:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as err:
        _missing("mosquitto on 127.0.0.1:1883", f"{err} (run scripts/setup test-env)")
    return SERVER


@pytest.fixture
def topic() -> str:
    return f"gitflows-test/{uuid.uuid4().hex[:12]}"


def publish(topic: str, *payloads: str, retain: bool = False) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- tasks --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["V3", "V5"])
def test_publish_then_subscribe_round_trip(mosquitto: str, topic: str, version: str,
                                           write_flow: Callable[..., Path]) -> None:
    flow = write_flow(f"""
        id: mqtt_round_trip
        namespace: demo
        tasks:
          - id: both
            type: io.kestra.plugin.core.flow.Parallel
            tasks:
              - id: sub
                type: io.kestra.plugin.mqtt.Subscribe
                server: {mosquitto}
                version: {version}
                username: robot
                password: "{{{{ secret('MQTT_PASSWORD') }}}}"
                topic: [{topic}/a, {topic}/b]
                maxRecords: 3
                maxDuration: PT20S
              - id: later
                type: io.kestra.plugin.core.flow.Sequential
                tasks:
                  - id: wait
                    type: io.kestra.plugin.core.flow.Sleep
                    duration: PT0.5S
                  - id: pub
                    type: io.kestra.plugin.mqtt.Publish
                    server: {mosquitto}
                    version: {version}
                    clientId: pub-{uuid.uuid4().hex[:8]}
                    topic: {topic}/a
                    serdeType: JSON
                    from: [{{"n": 1}}, {{"n": 2}}, "three"]
    """)
    result = run_cli("run", str(flow), "--executor", "process", "--json",
                     env={"SECRET_MQTT_PASSWORD": b64("mqtt-pa55word")})
    assert result.returncode == 0, result.stderr
    runs = {r["taskId"]: r for r in json.loads(result.stdout)["taskRunList"]}
    assert runs["pub"]["outputs"] == {"messagesCount": 3}
    out = runs["sub"]["outputs"]
    assert out["messagesCount"] == 3
    assert [m["payload"] for m in out["messages"]] == [{"n": 1}, {"n": 2}, "three"]
    assert {m["topic"] for m in out["messages"]} == {f"{topic}/a"}
    lines = Path(out["uri"]).read_text().splitlines()
    assert [json.loads(line)["payload"] for line in lines] == [{"n": 1}, {"n": 2}, "three"]
    assert "mqtt-pa55word" not in result.stdout + result.stderr


def test_subscribe_without_a_bound_and_a_bad_server_fail_clearly(
        mosquitto: str, topic: str, write_flow: Callable[..., Path]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    unbounded = write_flow(f"""
        id: mqtt_unbounded
        namespace: demo
        tasks:
          - id: sub
            type: io.kestra.plugin.mqtt.Subscribe
            server: {mosquitto}
            topic: {topic}
    """, "unbounded.yml")
    nobody = write_flow(f"""
        id: mqtt_nobody
        namespace: demo
        tasks:
          - id: pub
            type: io.kestra.plugin.mqtt.Publish
            server: tcp://127.0.0.1:{closed}
            topic: {topic}
            from: [x]
    """, "nobody.yml")
    first = run_cli("run", str(unbounded), "--executor", "process")
    assert first.returncode == 1 and "set maxRecords or maxDuration" in first.stdout + first.stderr
    second = run_cli("run", str(nobody), "--executor", "process")
    assert second.returncode == 1
    assert f"could not connect to tcp://127.0.0.1:{closed}" in second.stdout + second.stderr


# -- the triggers' exactly-once logic, poll by poll ------------------------------------------


class Polls:
    """Drives a trigger's poll like the server does, keeping the committed cursor."""

    def __init__(self, tmp_path: Path, props: dict[str, Any], per_message: bool) -> None:
        self.props, self.per_message, self.cursor = props, per_message, None
        self.work = tmp_path / "trigger"
        self.work.mkdir()

    def poll(self) -> Batch:
        ctx = TriggerContext("demo", "f", "t", self.props, self.cursor, self.work)
        return plugin.poll_realtime(ctx) if self.per_message else plugin.poll_trigger(ctx)

    def until(self, count: int, commit: bool = True) -> list[TriggerEvent]:
        """Poll until `count` events came, committing (or failing) each batch."""
        events: list[TriggerEvent] = []
        deadline = time.monotonic() + CEILING
        while len(events) < count:
            assert time.monotonic() < deadline, events
            batch = self.poll()
            events += batch.events
            if batch.finish is not None:
                if commit and batch.cursor is not None:
                    self.cursor = batch.cursor
                batch.finish(commit)
            time.sleep(0.05)
        return events


@pytest.fixture
def sessions() -> Iterator[None]:
    yield
    plugin.close_sessions()


def test_realtime_poll_commit_failure_and_lost_acks_never_duplicate(
        mosquitto: str, topic: str, tmp_path: Path, sessions: None) -> None:
    polls = Polls(tmp_path, {"server": mosquitto, "version": "V3", "topic": topic,
                             "serdeType": "STRING"}, per_message=True)
    assert polls.poll().events == ()  # connects and subscribes: the session exists from now on
    publish(topic, "one", "two")
    failed = polls.until(2, commit=False)  # the commit failed: offered again, same keys
    again = polls.until(2)
    assert [e.key for e in again] == [e.key for e in failed]
    assert [e.variables["payload"] for e in again] == ["one", "two"]
    assert again[0].variables["topic"] == topic and again[0].variables["qos"] == 1

    publish(topic, "three")
    batch = polls.poll()
    while not batch.events:
        batch = polls.poll()
    polls.cursor = batch.cursor  # committed, then the server dies before the ack
    plugin.close_sessions()
    publish(topic, "four")
    events = polls.until(1)  # reconnect: "three" comes again (dup) and is dropped
    assert [e.variables["payload"] for e in events] == ["four"]


def test_batch_trigger_fires_once_per_poll_with_a_file_and_inline_messages(
        mosquitto: str, topic: str, tmp_path: Path, sessions: None) -> None:
    polls = Polls(tmp_path, {"server": mosquitto, "topic": [f"{topic}/#"]}, per_message=False)
    polls.poll()
    publish(f"{topic}/x", '{"v": 1}', '{"v": 2}', "not json")
    events: list[TriggerEvent] = []
    while sum(e.variables["messagesCount"] for e in events) < 3:
        events += polls.until(1)
    payloads = [m["payload"] for e in events for m in e.variables["messages"]]
    assert payloads == [{"v": 1}, {"v": 2}, "not json"]
    lines = [json.loads(line) for e in events for line in Path(e.variables["uri"]).read_text().splitlines()]
    assert [m["payload"] for m in lines] == payloads


# -- through a real server ------------------------------------------------------------------

FLOW = """\
id: on_mqtt
namespace: demo
triggers:
  - id: sensor
    type: io.kestra.plugin.mqtt.{kind}
    server: {server}
    topic: {topic}
    serdeType: STRING
    interval: PT0.2S
tasks:
  - id: seen
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.{field} }}}}"
"""


def start(tmp_path: Path, repo: Path, name: str, env: dict[str, str] | None = None) -> Server:
    return Server(["--repo", f"demo={repo}", "--data", str(tmp_path / "data"), "--executor",
                   "process"], cwd=repo, log=tmp_path / f"{name}.log", env=env)


def kill_9(server: Server) -> None:
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)


def wait_values(server: Server, done: Callable[[list[str]], bool]) -> list[str]:
    """The `seen` outputs of the finished runs, once `done` holds for them."""
    deadline = time.monotonic() + CEILING
    while True:
        runs = call(server.base, "GET", "/api/v1/executions?limit=500")[1]
        finished = [r for r in runs if r["state"]["current"] in ("SUCCESS", "FAILED")]
        if len(finished) == len(runs):
            values = [str(call(server.base, "GET", f"/api/v1/executions/{r['id']}")[1]
                          ["taskRunList"][0]["outputs"]["value"]) for r in finished]
            if done(values):
                return values
        assert time.monotonic() < deadline, (runs, server.log.read_text()[-3000:])
        time.sleep(0.1)


def has(*wanted: str) -> Callable[[list[str]], bool]:
    return lambda values: all(w in "\n".join(values) for w in wanted)


def test_realtime_trigger_runs_each_message_once_across_kill_9(
        mosquitto: str, topic: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/on_mqtt.yml", FLOW.format(kind="RealtimeTrigger", server=mosquitto,
                                                   topic=topic, field="payload"), "flow")
    publish(topic, "p0", retain=True)  # delivered on subscribe: tells us the session exists
    try:
        # acks wait 1.5 s after each commit: the kill below lands between a commit and its ack
        server = start(tmp_path, repo, "first", env={"GITFLOWS_TEST_PAUSE_MQTT_ACK": "1.5"})
        wait_values(server, has("p0"))
        publish(topic, "a1")
        before = wait_values(server, has("p0", "a1"))
        kill_9(server)  # a1's run is committed, its ack never sent
        publish(topic, "b1", "b2")
        server = start(tmp_path, repo, "second")
        try:
            publish(topic, "z")  # delivered after any redelivery: once it ran, all did
            after = wait_values(server, has("b1", "b2", "z"))
            rows = json.loads(run_cli("history", "--json", cwd=repo).stdout)
        finally:
            server.stop()
        assert sorted(before) == ["a1", "p0"] and sorted(after) == ["b1", "b2", "z"], (before, after)
        assert len(rows) == 5  # the retained p0 and the unacked a1 did not run again
    finally:
        publish(topic, "", retain=True)


def test_batch_trigger_one_run_per_poll_across_kill_9(
        mosquitto: str, topic: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, ".flows/on_mqtt.yml", FLOW.format(kind="Trigger", server=mosquitto, topic=topic,
                                                   field="messages | jq('.[].payload') | join(',')"),
           "flow")
    publish(topic, "p0", retain=True)
    try:
        server = start(tmp_path, repo, "first")
        before = wait_values(server, has("p0"))
        kill_9(server)
        publish(topic, "m1", "m2", "m3")  # queued by the broker for the trigger's session
        server = start(tmp_path, repo, "second")
        try:
            after = wait_values(server, has("m3"))
            rows = json.loads(run_cli("history", "--json", cwd=repo).stdout)
        finally:
            server.stop()
        assert before == ["p0"] and after == ["m1,m2,m3"], (before, after)  # one run for the three
        assert len(rows) == 2
    finally:
        publish(topic, "", retain=True)
