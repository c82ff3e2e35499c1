"""Kestra's AMQP plugin (`pip install 'gitflows[amqp]'`, RabbitMQ through pika): Publish,
Consume, CreateQueue, DeclareExchange, QueueBind, Trigger and RealtimeTrigger. The one
module that imports pika.

Triggers consume without auto-ack and acknowledge in finish(True), on the connection the
poll opened (poll and finish run one after the other on the same server thread, never at
once). A crash before the commit: the broker redelivers, the messages fire again. A crash
between the commit and the ack: the broker redelivers them flagged `redelivered`; the
cursor keeps the keys of the batches whose ack was not confirmed (a message's key is its
message_id, else a digest of body, headers, exchange and routing key), so those are acked
and dropped. Identical messages without a message_id are told apart only by that flag:
one redelivered inside that window can be taken for its twin and dropped.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

from runner.durations import format_duration
from runner.events import State
from runner.model import Task
from runner.plugins.amqp_common import (
    ADMIN_ARGS,
    CONNECTION,
    CONSUME,
    DURATION,
    EXCHANGE_TYPES,
    message_key,
)
from runner.plugins.queue_common import (
    BOOL_OR_EXPR,
    INT_OR_EXPR,
    MAX_POLL_TAKE_SECONDS,
    SERDE_PROPERTY,
    deserialize,
    flag,
    inline,
    pause_for_tests,
    positive_int,
    prune,
    read_from,
    render_props,
    seconds,
    serde_of,
    serialize,
    task_timeout,
    write_jsonl,
)
from runner.ports.polling import NOTHING, TRIGGER_PROPERTIES, Batch, TriggerContext, TriggerEvent, redact
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

IDLE_SECONDS = 0.5  # a trigger poll without maxDuration ends once the queue stays quiet this long
WINDOW_MAX = 10_000  # keys kept in the cursor for the commit-to-ack window
REALTIME_TAKE = 100
TRIGGER_MAX_RECORDS = 10_000  # messages per poll of a Trigger without maxRecords
_ACKED = "acked"  # file in the trigger's work_dir: the seq of the last batch acknowledged
def parameters(props: Mapping[str, Any], timeout: float) -> pika.ConnectionParameters:
    """Kestra's connection properties: `url`, or host/port/username/password/virtualHost.
    As in Kestra the URL path is the virtual host as written (`/` when empty)."""
    url, host = props.get("url"), props.get("host")
    if url and host:
        raise TaskFailed("set url or host, not both")
    port, user, password, vhost = props.get("port") or 5672, props.get("username"), \
        props.get("password"), props.get("virtualHost") or "/"
    if url:
        parts = urllib.parse.urlsplit(str(url))
        if parts.scheme == "amqps":
            raise TaskFailed("amqps:// (TLS) is not supported yet; use amqp://")
        if parts.scheme != "amqp" or not parts.hostname:
            raise TaskFailed(f"url must be amqp://user:password@host:port/vhost, got '{redact(str(url))}'")
        host, port = parts.hostname, parts.port or port
        user = urllib.parse.unquote(parts.username) if parts.username is not None else None
        password = urllib.parse.unquote(parts.password or "") if parts.username is not None else None
        vhost = urllib.parse.unquote(parts.path) if parts.path not in ("", "/", "/%2F", "/%2f") else "/"
    if not host:
        raise TaskFailed("host (or url) is required")
    credentials = pika.PlainCredentials(str(user or "guest"), str(password or "guest"))
    return pika.ConnectionParameters(
        host=str(host), port=int(port), virtual_host=str(vhost), credentials=credentials,
        connection_attempts=1, socket_timeout=min(timeout, 10), blocked_connection_timeout=timeout,
        stack_timeout=min(timeout, 30))


def _failed(what: str, err: Exception) -> TaskFailed:
    return TaskFailed(redact(f"AMQP {what}: {type(err).__name__}: {err}"))


def _connect(props: Mapping[str, Any], timeout: float) -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(parameters(props, timeout))
    except pika.exceptions.AMQPError as err:
        raise _failed("connect", err) from None


# -- messages -----------------------------------------------------------------------------------
_FIELDS = {"contentType": "content_type", "contentEncoding": "content_encoding",
           "deliveryMode": "delivery_mode", "priority": "priority", "messageId": "message_id",
           "correlationId": "correlation_id", "replyTo": "reply_to", "type": "type",
           "userId": "user_id", "appId": "app_id"}


def outgoing(item: Any, serde: str) -> tuple[bytes, pika.BasicProperties]:
    """A `from` item (a Kestra Message map with `data`, or a bare value) as body + properties."""
    message = item if isinstance(item, Mapping) and "data" in item else {"data": item}
    kwargs = {attr: message[name] for name, attr in _FIELDS.items() if message.get(name) is not None}
    if message.get("headers") is not None:
        kwargs["headers"] = dict(message["headers"])
    if message.get("expiration") is not None:
        expiry = seconds(message["expiration"], "expiration") or 0
        kwargs["expiration"] = str(int(expiry * 1000))
    if message.get("timestamp") is not None:
        stamp = message["timestamp"]
        when = stamp if isinstance(stamp, (int, float)) else \
            dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        kwargs["timestamp"] = int(when)
    return serialize(message["data"], serde).encode("utf-8"), pika.BasicProperties(**kwargs)


def incoming(body: bytes, props: Any, serde: str, *, strict: bool) -> dict[str, Any]:
    """A delivered message as Kestra's Message: data plus the properties that are set."""
    message: dict[str, Any] = {"data": deserialize(body, serde, strict=strict)}
    for name, attr in _FIELDS.items():
        value = getattr(props, attr, None)
        if value is not None:
            message[name] = value
    if props.headers:
        message["headers"] = {str(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                              for k, v in props.headers.items()}
    if props.expiration:
        message["expiration"] = format_duration(dt.timedelta(milliseconds=int(props.expiration)))
    if props.timestamp:
        message["timestamp"] = dt.datetime.fromtimestamp(props.timestamp, dt.UTC).isoformat()
    return message


@dataclass(frozen=True)
class Delivery:
    tag: int
    redelivered: bool
    key: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Taken:
    connection: pika.BlockingConnection
    channel: Any
    deliveries: list[Delivery]

    def settle(self, ack: bool) -> None:
        """Acknowledge every delivery (ack) or none (they are requeued), and disconnect."""
        try:
            if ack and self.deliveries and self.channel.is_open:
                self.channel.basic_ack(delivery_tag=self.deliveries[-1].tag, multiple=True)
        finally:
            if self.connection.is_open:
                self.connection.close()


def take(props: Mapping[str, Any], max_records: int | None, max_duration: float | None,
         idle: float | None, cancel: threading.Event | None, timeout: float, strict: bool) -> Taken:
    """Consume up to max_records messages without acknowledging them; stop after
    max_duration, or once nothing came for `idle` seconds."""
    queue, serde = str(props["queue"]), serde_of(props)
    tag = str(props.get("consumerTag") or "Kestra")
    connection = _connect(props, timeout)
    deliveries: list[Delivery] = []
    try:
        channel = connection.channel()
        # acks wait for the end: a prefetch below max_records would stall the consumer
        channel.basic_qos(prefetch_count=max_records if max_records and max_records <= 65535 else 0)

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            if max_records is not None and len(deliveries) >= max_records:
                ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
                return
            deliveries.append(Delivery(method.delivery_tag, bool(method.redelivered),
                                       message_key(body, properties, method.exchange, method.routing_key),
                                       incoming(body, properties, serde, strict=strict)))

        channel.basic_consume(queue, on_message, auto_ack=False, consumer_tag=tag)
        started = last = time.monotonic()
        seen = 0
        while max_records is None or len(deliveries) < max_records:
            connection.process_data_events(time_limit=0.05)
            now = time.monotonic()
            if len(deliveries) != seen:
                seen, last = len(deliveries), now
            if (max_duration is not None and now - started >= max_duration) or \
                    (idle is not None and now - last >= idle) or (cancel is not None and cancel.is_set()):
                break
        channel.basic_cancel(tag)  # undispatched messages are nacked (requeued) by pika
    except BaseException as err:
        if connection.is_open:
            connection.close()
        if isinstance(err, pika.exceptions.AMQPError):
            raise _failed(f"consume from '{queue}'", err) from None
        raise
    return Taken(connection, channel, deliveries)


# -- tasks ------------------------------------------------------------------------------------
def run_publish(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    serde = serde_of(props)
    exchange, routing_key = str(props.get("exchange") or ""), str(props.get("routingKey") or "")
    items = read_from(props.get("from"), ctx.workdir)
    with _connect(props, task_timeout(ctx)) as connection:
        try:
            channel = connection.channel()
            channel.confirm_delivery()  # each publish returns once the broker has it
            for item in items:
                body, properties = outgoing(item, serde)
                channel.basic_publish(exchange, routing_key, body, properties)
        except pika.exceptions.AMQPError as err:
            raise _failed(f"publish to exchange '{exchange}'", err) from None
    ctx.log("INFO", f"published {len(items)} message(s) to exchange '{exchange}'")
    return Outcome(State.SUCCESS, {"messagesCount": len(items)})


def run_consume(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    max_records = positive_int(props.get("maxRecords"), "maxRecords", None)
    max_duration = seconds(props.get("maxDuration"), "maxDuration")
    if max_records is None and max_duration is None:
        raise TaskFailed("maxDuration or maxRecords must be set to avoid an endless consume")
    taken = take(props, max_records, max_duration, None, ctx.cancel, task_timeout(ctx), True)
    try:
        messages = [d.message for d in taken.deliveries]
        path = ctx.workdir / f"{task.id}-{int(time.time() * 1000)}.jsonl"
        write_jsonl(path, messages)
        kept = ctx.keep_artifact(path, "messages.jsonl")
        taken.settle(ack=True)  # acknowledged once they are safe in the file
    except BaseException:
        taken.settle(ack=False)
        raise
    ctx.log("INFO", f"consumed {len(messages)} message(s) from queue '{props['queue']}'")
    return Outcome(State.SUCCESS, {"uri": str(kept), "count": len(messages), **inline(messages)})


def _admin(task: Task, ctx: TaskContext, what: str, action: Any) -> dict[str, Any]:
    props = render_props(task, ctx)
    with _connect(props, task_timeout(ctx)) as connection:
        try:
            outputs: dict[str, Any] = action(connection.channel(), props)
        except pika.exceptions.AMQPError as err:
            raise _failed(what, err) from None
    return outputs


def run_create_queue(task: Task, ctx: TaskContext) -> Outcome:
    def declare(channel: Any, props: dict[str, Any]) -> dict[str, Any]:
        channel.queue_declare(str(props["name"]), durable=flag(props.get("durability"), True),
                              exclusive=flag(props.get("exclusive"), False),
                              auto_delete=flag(props.get("autoDelete"), False),
                              arguments=props.get("args") or None)
        return {"queue": str(props["name"])}
    return Outcome(State.SUCCESS, _admin(task, ctx, "create queue", declare))


def run_declare_exchange(task: Task, ctx: TaskContext) -> Outcome:
    def declare(channel: Any, props: dict[str, Any]) -> dict[str, Any]:
        kind = str(props.get("exchangeType") or "DIRECT").upper()
        if kind not in EXCHANGE_TYPES:
            raise TaskFailed(f"exchangeType must be one of {', '.join(EXCHANGE_TYPES)}, got '{kind}'")
        channel.exchange_declare(str(props["name"]), exchange_type=kind.lower(),
                                 durable=flag(props.get("durability"), True),
                                 auto_delete=flag(props.get("autoDelete"), False),
                                 internal=flag(props.get("internal"), False),
                                 arguments=props.get("args") or None)
        return {"exchange": str(props["name"])}
    return Outcome(State.SUCCESS, _admin(task, ctx, "declare exchange", declare))


def run_queue_bind(task: Task, ctx: TaskContext) -> Outcome:
    def bind(channel: Any, props: dict[str, Any]) -> dict[str, Any]:
        channel.queue_bind(str(props["queue"]), str(props["exchange"]),
                           routing_key=str(props.get("routingKey") or ""),
                           arguments=props.get("args") or None)
        return {"queue": str(props["queue"]), "exchange": str(props["exchange"])}
    return Outcome(State.SUCCESS, _admin(task, ctx, "bind queue", bind))


# -- triggers ---------------------------------------------------------------------------------
def _acked(work_dir: Path) -> int | None:
    try:
        return int((work_dir / _ACKED).read_text())
    except (OSError, ValueError):
        return None


def _poll(ctx: TriggerContext, realtime: bool) -> Batch:
    props = ctx.props
    cursor = ctx.cursor if isinstance(ctx.cursor, Mapping) else {}
    seq = int(cursor.get("seq", 0))
    # keys whose ack is not known to have happened: a redelivery of them was committed already
    window = Counter(cursor.get("window") or []) if _acked(ctx.work_dir) != seq else Counter()
    max_records: int | None = REALTIME_TAKE
    max_duration: float | None = None
    idle: float | None = IDLE_SECONDS
    if not realtime:
        max_records = positive_int(props.get("maxRecords"), "maxRecords", TRIGGER_MAX_RECORDS)
        max_duration = seconds(props.get("maxDuration"), "maxDuration")
        idle = IDLE_SECONDS if max_duration is None else None
        max_duration = min(max_duration, MAX_POLL_TAKE_SECONDS) if max_duration is not None else None
    try:
        taken = take(props, max_records, max_duration, idle, None, 10.0, False)
    except TaskFailed as err:
        raise TaskFailed(ctx.mask(str(err))) from None
    if not taken.deliveries:
        taken.settle(ack=False)
        return NOTHING
    pause_for_tests("after_take")
    fresh: list[Delivery] = []
    for delivery in taken.deliveries:
        if delivery.redelivered and window[delivery.key] > 0:
            window[delivery.key] -= 1
        else:
            fresh.append(delivery)
    dropped = len(taken.deliveries) - len(fresh)
    if dropped:
        ctx.log("INFO", f"{dropped} redelivered message(s) of a committed batch acknowledged")
    seq += 1
    messages = [d.message for d in fresh]
    events: list[TriggerEvent] = []
    if realtime:
        events = [TriggerEvent(d.key if d.key.startswith("id:") else f"{seq}.{i}:{d.key}", d.message)
                  for i, d in enumerate(fresh)]
    elif fresh:
        prune(ctx.work_dir)
        path = ctx.work_dir / f"batch-{seq}.jsonl"
        write_jsonl(path, messages)
        events = [TriggerEvent(f"batch-{seq}", {"uri": str(path), "count": len(messages),
                                                **inline(messages)})]
    keys = [d.key for d in taken.deliveries] + list(window.elements())

    def finish(committed: bool) -> None:
        if committed:
            pause_for_tests("before_ack")
        taken.settle(ack=committed)
        if committed:
            (ctx.work_dir / _ACKED).write_text(str(seq))

    return Batch(events, {"seq": seq, "window": keys[:WINDOW_MAX]}, finish)


def poll_trigger(ctx: TriggerContext) -> Batch:
    return _poll(ctx, realtime=False)


def poll_realtime(ctx: TriggerContext) -> Batch:
    return _poll(ctx, realtime=True)



TYPES = (
    TypeDef(name="io.kestra.plugin.amqp.Publish", kind="task",
            title="Publish messages (a list, a map, a JSON array or a JSON Lines file) to an exchange",
            properties={**CONNECTION, "exchange": {"type": "string"}, "routingKey": {"type": "string"},
                        "from": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}]},
                        "serdeType": SERDE_PROPERTY},
            required=("exchange", "from"), run=run_publish),
    TypeDef(name="io.kestra.plugin.amqp.Consume", kind="task",
            title="Consume messages from a queue into a JSON Lines file (uri) and inline messages",
            properties={**CONSUME, "maxRecords": INT_OR_EXPR, "maxDuration": DURATION},
            required=("queue",), run=run_consume),
    TypeDef(name="io.kestra.plugin.amqp.CreateQueue", kind="task", title="Declare a queue",
            properties={**CONNECTION, **ADMIN_ARGS, "name": {"type": "string"},
                        "exclusive": BOOL_OR_EXPR},
            required=("name",), run=run_create_queue),
    TypeDef(name="io.kestra.plugin.amqp.DeclareExchange", kind="task", title="Declare an exchange",
            properties={**CONNECTION, **ADMIN_ARGS, "name": {"type": "string"},
                        "exchangeType": {"type": "string", "enum": list(EXCHANGE_TYPES)},
                        "internal": BOOL_OR_EXPR},
            required=("name",), run=run_declare_exchange),
    TypeDef(name="io.kestra.plugin.amqp.QueueBind", kind="task", title="Bind a queue to an exchange",
            properties={**CONNECTION, "exchange": {"type": "string"}, "queue": {"type": "string"},
                        "routingKey": {"type": "string"}, "args": {"type": "object"}},
            required=("exchange", "queue"), run=run_queue_bind),
    TypeDef(name="io.kestra.plugin.amqp.Trigger", kind="trigger",
            title="Consume a queue every interval; one run per poll with trigger.uri/count/messages",
            properties={**TRIGGER_PROPERTIES, **CONSUME, "maxRecords": INT_OR_EXPR,
                        "maxDuration": DURATION},
            required=("queue",), poll=poll_trigger),
    TypeDef(name="io.kestra.plugin.amqp.RealtimeTrigger", kind="trigger",
            title="Consume a queue; one run per message with trigger.data, trigger.headers, …",
            properties={**TRIGGER_PROPERTIES, **CONSUME}, required=("queue",), poll=poll_realtime),
)
