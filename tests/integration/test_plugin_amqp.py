"""Kestra's AMQP plugin against the real RabbitMQ: setup, publish and consume through
`flows run`, the triggers through a real `flows serve` with kill -9 in between (no message
lost, none fired twice), passwords through secret() never shown."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest

from tests.conftest import _missing, run_cli
from tests.integration.queue_helpers import Served, b64
from tests.waiting import CEILING, wait_until

URL = "amqp://guest:guest@127.0.0.1:5672/"
SECRET_URL = "amqp://guest:{{ secret('AMQP_PASSWORD') }}@127.0.0.1:5672/"
SECRET_ENV = {"SECRET_AMQP_PASSWORD": b64("guest")}


def connect() -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))


@pytest.fixture(scope="session")
def rabbitmq() -> None:
    try:
        connect().close()
    except pika.exceptions.AMQPError as err:
        _missing("RabbitMQ on 127.0.0.1:5672", f"{err!r} (scripts/setup test-env starts it)")


@pytest.fixture
def queues(rabbitmq: None) -> Iterator[str]:
    """A unique name prefix; queues `<prefix>.in`, `<prefix>.out`, `<prefix>.out2` exist
    and are deleted afterwards."""
    name = f"gftest.{uuid.uuid4().hex[:10]}"
    with connect() as connection:
        channel = connection.channel()
        for suffix in ("in", "out", "out2"):
            channel.queue_declare(f"{name}.{suffix}", durable=True)
    yield name
    with connect() as connection:
        channel = connection.channel()
        for suffix in ("in", "out", "out2", "bound"):
            channel.queue_delete(f"{name}.{suffix}")
        channel.exchange_delete(f"{name}.ex")


def publish(queue: str, *bodies: str, message_ids: list[str] | None = None) -> None:
    with connect() as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for index, body in enumerate(bodies):
            mid = message_ids[index] if message_ids else None
            channel.basic_publish("", queue, body.encode(),
                                  pika.BasicProperties(message_id=mid, headers={"h": f"v{index}"}))


def ready(queue: str) -> int:
    with connect() as connection:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)


def drain(queue: str) -> list[str]:
    bodies: list[str] = []
    with connect() as connection:
        channel = connection.channel()
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body.decode())


def run_flow(path: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = run_cli("run", str(path), "--json", "--executor", "process", env=env)
    try:
        execution = json.loads(result.stdout)
    except ValueError:
        execution = {}
    return result.returncode, execution, result.stdout + result.stderr


def test_setup_publish_and_consume(write_flow: Any, queues: str) -> None:
    flow = write_flow(f"""
        id: amqp_tasks
        namespace: demo
        tasks:
          - id: exchange
            type: io.kestra.plugin.amqp.DeclareExchange
            url: {URL}
            name: {queues}.ex
            exchangeType: TOPIC
          - id: queue
            type: io.kestra.plugin.amqp.CreateQueue
            host: 127.0.0.1
            username: guest
            password: "{{{{ secret('AMQP_PASSWORD') }}}}"
            name: {queues}.bound
          - id: bind
            type: io.kestra.plugin.amqp.QueueBind
            url: {URL}
            exchange: {queues}.ex
            queue: {queues}.bound
            routingKey: "orders.*"
          - id: publish
            type: io.kestra.plugin.amqp.Publish
            url: {URL}
            exchange: {queues}.ex
            routingKey: orders.new
            serdeType: JSON
            from:
              - data: {{"order": 1}}
                headers: {{source: test}}
                messageId: order-1
                timestamp: "2023-01-09T08:46:33Z"
              - data: {{"order": 2}}
              - data: {{"order": 3}}
          - id: consume
            type: io.kestra.plugin.amqp.Consume
            url: {URL}
            queue: {queues}.bound
            serdeType: JSON
            maxRecords: 2
          - id: republish
            type: io.kestra.plugin.amqp.Publish
            url: {URL}
            exchange: ""
            routingKey: {queues}.out
            serdeType: JSON
            from: "{{{{ outputs.consume.uri }}}}"
        """)
    code, execution, text = run_flow(flow, SECRET_ENV)
    assert code == 0, text
    out = {t["taskId"]: t.get("outputs") for t in execution["taskRunList"]}
    assert out["exchange"] == {"exchange": f"{queues}.ex"}
    assert out["bind"] == {"queue": f"{queues}.bound", "exchange": f"{queues}.ex"}
    assert out["publish"] == {"messagesCount": 3}
    assert out["consume"]["count"] == 2
    first = out["consume"]["messages"][0]
    assert first["data"] == {"order": 1} and first["messageId"] == "order-1"
    assert first["headers"] == {"source": "test"} and first["timestamp"].startswith("2023-01-09T08:46:33")
    assert [json.loads(line)["data"] for line in Path(out["consume"]["uri"]).read_text().splitlines()] \
        == [{"order": 1}, {"order": 2}]
    assert ready(f"{queues}.bound") == 1  # acknowledged only what it took
    assert sorted(drain(f"{queues}.out")) == ['{"order": 1}', '{"order": 2}']


def test_consume_takes_more_than_one_prefetch_window(write_flow: Any, queues: str) -> None:
    publish(f"{queues}.in", *[str(n) for n in range(1500)])
    flow = write_flow(f"""
        id: many
        namespace: demo
        tasks:
          - id: consume
            type: io.kestra.plugin.amqp.Consume
            url: {URL}
            queue: {queues}.in
            maxRecords: 1500
            maxDuration: PT600S
        """)
    started = time.monotonic()
    code, execution, text = run_flow(flow)
    assert code == 0, text
    out = execution["taskRunList"][0]["outputs"]
    assert out["count"] == 1500 and "messages" not in out  # over 1000: only in the file
    assert len(Path(out["uri"]).read_text().splitlines()) == 1500
    assert time.monotonic() - started < CEILING  # ended at maxRecords, not maxDuration's 600 s
    assert ready(f"{queues}.in") == 0


def test_wrong_password_from_secret_is_masked(write_flow: Any, queues: str) -> None:
    flow = write_flow(f"""
        id: bad_pw
        namespace: demo
        tasks:
          - id: consume
            type: io.kestra.plugin.amqp.Consume
            url: {SECRET_URL}
            queue: {queues}.in
            maxDuration: PT1S
        """)
    code, _, text = run_flow(flow, {"SECRET_AMQP_PASSWORD": b64("n0t-the-pa55word")})
    assert code == 1
    assert "n0t-the-pa55word" not in text and "AMQP connect" in text, text
    code, _, text = run_flow(flow, {"SECRET_AMQP_PASSWORD": b64("guest")})
    assert code == 0, text


def batch_flow(queues: str) -> str:
    return f"""\
id: batches
namespace: demo
triggers:
  - id: watch
    type: io.kestra.plugin.amqp.Trigger
    host: 127.0.0.1
    username: guest
    password: "{{{{ secret('AMQP_PASSWORD') }}}}"
    queue: {queues}.in
    maxRecords: 50
    interval: PT0.3S
tasks:
  - id: from_file
    type: io.kestra.plugin.amqp.Publish
    url: {URL}
    exchange: ""
    routingKey: {queues}.out
    from: "{{{{ trigger.uri }}}}"
  - id: inline
    type: io.kestra.plugin.amqp.Publish
    url: {URL}
    exchange: ""
    routingKey: {queues}.out2
    from: "{{{{ trigger.messages | toJson }}}}"
"""


def test_trigger_fires_once_per_poll_across_kill_9(tmp_path: Path, queues: str) -> None:
    served = Served(tmp_path, batch_flow(queues), SECRET_ENV)
    served.start()
    try:
        publish(f"{queues}.in", "a", "b", "c", message_ids=["1", "2", "3"])
        wait_until(lambda: ready(f"{queues}.out") >= 3 and served.all_done(), "the first batch")
        served.kill9()
        publish(f"{queues}.in", "d", "e")
        served.start()
        wait_until(lambda: ready(f"{queues}.out") >= 5 and served.all_done(), "the second batch")
        time.sleep(1)  # several more polls: nothing may fire again
        assert sorted(drain(f"{queues}.out")) == list("abcde")
        assert sorted(drain(f"{queues}.out2")) == list("abcde")
        assert ready(f"{queues}.in") == 0
    finally:
        served.stop()


def test_kill_9_between_commit_and_ack_fires_nothing_twice(tmp_path: Path, queues: str) -> None:
    served = Served(tmp_path, batch_flow(queues), SECRET_ENV)
    served.start({"GITFLOWS_TEST_PAUSE_BEFORE_ACK": "60"})
    try:
        publish(f"{queues}.in", "p", "p", "q")  # no message ids: keys are digests; two twins
        wait_until(lambda: ready(f"{queues}.out") == 3 and served.all_done(1), "the batch's run")
        served.kill9()  # committed, not acknowledged: the broker redelivers all three
        served.start()
        publish(f"{queues}.in", "r")  # behind the redelivered ones: once it ran, they were seen
        wait_until(lambda: ready(f"{queues}.out") >= 4 and served.all_done(), "the next run")
        time.sleep(1)
        assert sorted(drain(f"{queues}.out")) == ["p", "p", "q", "r"]
        assert len(served.executions()) == 1
        assert ready(f"{queues}.in") == 0
    finally:
        served.stop()


def test_kill_9_between_take_and_commit_loses_nothing(tmp_path: Path, queues: str) -> None:
    served = Served(tmp_path, batch_flow(queues), SECRET_ENV)
    served.start({"GITFLOWS_TEST_PAUSE_AFTER_TAKE": "60"})
    try:
        publish(f"{queues}.in", "x", "y")
        wait_until(lambda: ready(f"{queues}.in") == 0, "the messages to be taken")
        served.kill9()
        assert ready(f"{queues}.out") == 0
        served.start()
        wait_until(lambda: ready(f"{queues}.out") >= 2 and served.all_done(), "the batch's run")
        time.sleep(1)
        assert sorted(drain(f"{queues}.out")) == ["x", "y"]
        assert len(served.executions()) == 1
    finally:
        served.stop()


def test_realtime_trigger_runs_once_per_message(tmp_path: Path, queues: str) -> None:
    flow = f"""\
id: realtime
namespace: demo
triggers:
  - id: watch
    type: io.kestra.plugin.amqp.RealtimeTrigger
    url: "{SECRET_URL}"
    queue: {queues}.in
    interval: PT0.3S
tasks:
  - id: record
    type: io.kestra.plugin.amqp.Publish
    url: {URL}
    exchange: ""
    routingKey: {queues}.out
    from: ["{{{{ trigger.data }}}}-{{{{ trigger.headers.h }}}}-{{{{ trigger.messageId ?? 'none' }}}}"]
"""
    served = Served(tmp_path, flow, SECRET_ENV)
    served.start()
    try:
        publish(f"{queues}.in", "m0", "m1", "m2", message_ids=["i0", "i1", "i2"])
        wait_until(lambda: served.all_done(3), "three runs")
        served.kill9()
        publish(f"{queues}.in", "n0", "n1")
        served.start()
        wait_until(lambda: served.all_done(2) and ready(f"{queues}.out") == 5, "two more runs")
        time.sleep(1)
        assert sorted(drain(f"{queues}.out")) == ["m0-v0-i0", "m1-v1-i1", "m2-v2-i2",
                                                  "n0-v0-none", "n1-v1-none"]
        assert len(served.executions()) == 2
    finally:
        served.stop()
