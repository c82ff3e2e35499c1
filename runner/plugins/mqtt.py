"""MQTT (paho-mqtt 2): Kestra's io.kestra.plugin.mqtt Publish and Subscribe tasks, its
Trigger (one run per poll with all messages) and RealtimeTrigger (one run per message).

The triggers lose nothing while the server is down: they subscribe with a persistent
session (MQTT 3.1.1 clean session off, MQTT 5 clean start off with a session expiry) under
a stable client id, so the broker queues messages for them, and they acknowledge a message
(manual PUBACK) only once its run is committed. One live connection per trigger is kept
across polls (a module-level table keyed by client id; acks then never race a disconnect);
an idle one is closed after `IDLE_SECONDS`.
The event keys and the redelivery rules: runner/plugins/mqtt_events.py.
"""

from __future__ import annotations

import collections
import hashlib
import ssl
import threading
import time
import urllib.parse
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from runner.events import State
from runner.model import Task
from runner.plugins import queue_common as qc
from runner.plugins.mqtt_events import PUBLISH, SERDES, SUBSCRIBE, Received, digest, fresh_events
from runner.ports.polling import TRIGGER_PROPERTIES, Batch, TriggerContext, TriggerEvent, redact
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

VERSIONS = {"V3": MQTTProtocolVersion.MQTTv311, "V5": MQTTProtocolVersion.MQTTv5}
IDLE_SECONDS = 300.0  # a trigger connection not polled for this long is closed
SESSION_EXPIRY = 7 * 86400  # MQTT 5: the broker keeps a trigger's queue this long while it is away
MAX_TAKE = 500  # messages one poll takes at most when maxRecords is not set
CONNECT_SECONDS = 10.0


class MqttError(Exception):
    pass


def _server(props: dict[str, Any]) -> tuple[str, int, bool]:
    """host, port, TLS from Kestra's `server` (tcp://host:1883, ssl://host:8883)."""
    raw = str(props.get("server") or "")
    parts = urllib.parse.urlsplit(raw if "://" in raw else f"tcp://{raw}")
    if parts.scheme not in ("tcp", "ssl", "mqtt", "mqtts") or not parts.hostname:
        raise MqttError(f"server must look like tcp://host:1883 or ssl://host:8883, got '{redact(raw)}'")
    tls = parts.scheme in ("ssl", "mqtts")
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def _version(props: dict[str, Any]) -> MQTTProtocolVersion:
    name = str(props.get("version") or "V5").upper()
    if name not in VERSIONS:
        raise MqttError(f"version must be V3 or V5, got '{name}'")
    return VERSIONS[name]


def _serde(props: dict[str, Any], default: str) -> str:
    serde = str(props.get("serdeType") or default).upper()
    if serde not in SERDES:
        raise MqttError(f"serdeType must be STRING or JSON, got '{serde}'")
    return serde


def _topics(props: dict[str, Any]) -> list[str]:
    value = props.get("topic")
    topics = [str(t) for t in value] if isinstance(value, list) else [str(value)] if value else []
    if not topics:
        raise MqttError("topic is required (a topic filter or a list of them)")
    return topics


def _qos(props: dict[str, Any]) -> int:
    qos = int(props.get("qos", 1) if props.get("qos") not in (None, "") else 1)
    if qos not in (0, 1, 2):
        raise MqttError(f"qos must be 0, 1 or 2, got {qos}")
    return qos


class Connection:
    """A paho client on its own network thread; `persistent` keeps the broker-side session."""

    def __init__(self, props: dict[str, Any], client_id: str, *, persistent: bool,
                 manual_ack: bool, on_message: Any = None, topics: list[str] | None = None,
                 qos: int = 1, on_connected: Any = None) -> None:
        self.host, self.port, tls = _server(props)
        self.shown = f"{'ssl' if tls else 'tcp'}://{self.host}:{self.port}"
        self.version = _version(props)
        self.topics, self.qos = topics or [], qos
        self.connected, self.subscribed = threading.Event(), threading.Event()
        self.error: str | None = None
        self.generation = 0  # +1 per (re)connect: acks of an older connection are void
        self._on_connected = on_connected
        v5 = self.version == mqtt.MQTTv5
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=None if v5 else not persistent,
                                  protocol=self.version, manual_ack=manual_ack)
        if tls:
            self.client.tls_set(ca_certs=str(props["crt"]) if props.get("crt") else None,
                                cert_reqs=ssl.CERT_REQUIRED)
            if props.get("httpsHostnameVerificationEnabled") is False:
                self.client.tls_insecure_set(True)
        if props.get("username") is not None:
            self.client.username_pw_set(str(props["username"]),
                                        None if props.get("password") is None else str(props["password"]))
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_connect_fail = lambda *_: setattr(
            self, "error", f"{self.shown} does not answer (connection failed)")
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: on_message and on_message(self, msg)
        self.client.reconnect_delay_set(1, 30)
        kwargs: dict[str, Any] = {}
        if v5:
            connect_props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            connect_props.SessionExpiryInterval = SESSION_EXPIRY if persistent else 0
            kwargs = {"clean_start": not persistent, "properties": connect_props}
        self.client.connect_async(self.host, self.port, keepalive=30, **kwargs)
        self.client.loop_start()

    def _connected(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.error = f"{self.shown} refused the connection: {reason}"
            return
        self.generation += 1
        self.error = None
        if self._on_connected is not None:
            self._on_connected()
        if self.topics:  # every (re)connect: the session may be new or the topics changed
            self.subscribed.clear()
            client.subscribe([(topic, self.qos) for topic in self.topics])
        self.connected.set()

    def _disconnected(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if reason.is_failure:
            self.error = f"lost the connection to {self.shown}: {reason}"

    def wait(self, timeout: float) -> None:
        """Until connected (and subscribed); MqttError with the reason otherwise."""
        deadline = time.monotonic() + timeout
        while not self.connected.wait(0.05):  # paho keeps retrying; fail this wait at the first error
            if self.error or time.monotonic() > deadline:
                raise MqttError(f"could not connect to {self.shown}: {self.error or 'no answer'}")
        if self.topics and not self.subscribed.wait(max(deadline - time.monotonic(), 0.05)):
            raise MqttError(f"subscribing on {self.shown}: no answer")

    def close(self) -> None:
        """Disconnect cleanly (what was queued, acks included, goes out first)."""
        done = threading.Event()
        self.client.on_disconnect = lambda *_: done.set()
        if self.connected.is_set() and self.client.disconnect() == mqtt.MQTT_ERR_SUCCESS:
            done.wait(5)
        self.client.loop_stop()


# -- tasks ------------------------------------------------------------------------------


def _task_client_id(props: dict[str, Any]) -> str:
    return str(props.get("clientId") or f"gitflows-{uuid.uuid4().hex[:14]}")


def run_publish(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    try:
        topic, qos, serde = str(props["topic"]), _qos(props), _serde(props, "STRING")
        items = qc.read_from(props.get("from"), ctx.workdir)
        conn = Connection(props, _task_client_id(props), persistent=False, manual_ack=False)
    except MqttError as err:
        raise TaskFailed(str(err)) from None
    try:
        conn.wait(min(qc.task_timeout(ctx), CONNECT_SECONDS))
        retain = qc.flag(props.get("retain"), False)
        sent = [conn.client.publish(topic, qc.serialize(item, serde).encode(), qos, retain) for item in items]
        deadline = time.monotonic() + qc.task_timeout(ctx)
        for info in sent:
            info.wait_for_publish(max(deadline - time.monotonic(), 0.1))
            if not info.is_published():
                raise MqttError(f"publishing to {topic} on {conn.shown}: no acknowledgement")
    except MqttError as err:
        raise TaskFailed(str(err)) from None
    finally:
        conn.close()
    ctx.log("INFO", f"published {len(items)} message(s) to {topic} on {conn.shown}")
    return Outcome(State.SUCCESS, {"messagesCount": len(items)})


def _message(item: Received, serde: str) -> dict[str, Any]:
    return {"id": item.mid, "topic": item.topic, "qos": item.qos,
            "payload": qc.deserialize(item.payload, serde, strict=False), "retain": item.retain}


def run_subscribe(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    got: collections.deque[Received] = collections.deque()
    try:
        topics, qos, serde = _topics(props), _qos(props), _serde(props, "JSON")
        max_records = qc.positive_int(props.get("maxRecords"), "maxRecords", None)
        max_duration = qc.seconds(props.get("maxDuration"), "maxDuration")
        if max_records is None and max_duration is None:
            raise MqttError("set maxRecords or maxDuration (the task would never end)")
        conn = Connection(props, _task_client_id(props), persistent=False, manual_ack=False,
                          topics=topics, qos=qos,
                          on_message=lambda _c, m: got.append(_received(m)))
    except MqttError as err:
        raise TaskFailed(str(err)) from None
    try:
        conn.wait(min(qc.task_timeout(ctx), CONNECT_SECONDS))
        deadline = time.monotonic() + min(max_duration or qc.task_timeout(ctx), qc.task_timeout(ctx))
        while (max_records is None or len(got) < max_records) and time.monotonic() < deadline:
            if ctx.cancel.wait(0.05):
                break
        conn.client.unsubscribe(topics)
    except MqttError as err:
        raise TaskFailed(str(err)) from None
    finally:
        conn.close()
    messages = [_message(m, serde) for m in list(got)[:max_records]]
    name = f"{task.id}.messages.jsonl"
    qc.write_jsonl(ctx.workdir / name, messages)
    uri = ctx.keep_artifact(ctx.workdir / name, name)
    ctx.log("INFO", f"received {len(messages)} message(s) from {', '.join(topics)}")
    return Outcome(State.SUCCESS, {"messagesCount": len(messages), "uri": str(uri), **qc.inline(messages)})


def _received(msg: mqtt.MQTTMessage) -> Received:
    return Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), msg.mid, bool(msg.dup))


# -- triggers ---------------------------------------------------------------------------


class Session:
    """A trigger's live connection and what it received that no poll has taken yet."""

    def __init__(self, props: dict[str, Any], client_id: str, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.lock = threading.Lock()
        self.buffer: collections.deque[Received] = collections.deque()
        self.last_poll = time.monotonic()
        # QoS 2 is taken as 1: its PUBREC would be sent before the run is committed
        self.conn = Connection(props, client_id, persistent=True, manual_ack=True,
                               topics=_topics(props), qos=min(_qos(props), 1),
                               on_message=self._arrived, on_connected=self._reset)

    def _arrived(self, _conn: Connection, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.buffer.append(_received(msg))

    def _reset(self) -> None:
        with self.lock:  # a new connection: the broker sends again whatever was not acked
            self.buffer.clear()

    def take(self, limit: int) -> tuple[int, list[Received]]:
        with self.lock:
            items = [self.buffer.popleft() for _ in range(min(limit, len(self.buffer)))]
            return self.conn.generation, items

    def ack(self, generation: int, items: list[Received]) -> None:
        if self.conn.generation != generation:
            return  # reconnected since: the broker redelivers them, the cursor drops them
        for item in items:
            if item.qos > 0:
                self.conn.client.ack(item.mid, item.qos)

    def give_back(self, generation: int, items: list[Received]) -> None:
        with self.lock:
            if self.conn.generation == generation:
                self.buffer.extendleft(reversed(items))


_SESSIONS: dict[str, Session] = {}  # client id → live session (several triggers poll at once)
_SESSIONS_LOCK = threading.Lock()
_SESSION_KEYS = ("server", "version", "clientId", "username", "password", "crt", "topic", "qos",
                 "httpsHostnameVerificationEnabled")


def _session(ctx: TriggerContext) -> Session:
    props = dict(ctx.props)
    client_id = str(props.get("clientId") or "gitflows-" + hashlib.sha256(
        str(ctx.work_dir.resolve()).encode()).hexdigest()[:14])
    fingerprint = hashlib.sha256(repr([props.get(k) for k in _SESSION_KEYS]).encode()).hexdigest()
    now = time.monotonic()
    with _SESSIONS_LOCK:
        stale = [cid for cid, s in _SESSIONS.items() if now - s.last_poll > IDLE_SECONDS or (
            cid == client_id and s.fingerprint != fingerprint)]
        closing = [_SESSIONS.pop(cid) for cid in stale]
        for old in closing:  # before a new one takes the same client id
            old.conn.close()
        session = _SESSIONS.get(client_id)
        if session is None:
            session = _SESSIONS[client_id] = Session(props, client_id, fingerprint)
            ctx.log("INFO", f"connecting to {session.conn.shown} as {client_id}")
        session.last_poll = now
    return session


def close_sessions() -> None:
    """Disconnect every trigger connection (tests; a server stopping)."""
    with _SESSIONS_LOCK:
        for session in _SESSIONS.values():
            session.conn.close()
        _SESSIONS.clear()


def _poll(ctx: TriggerContext, per_message: bool) -> Batch:
    props = dict(ctx.props)
    try:
        serde = _serde(props, "JSON")
        limit = qc.positive_int(props.get("maxRecords"), "maxRecords", None) or MAX_TAKE
        session = _session(ctx)
        session.conn.wait(CONNECT_SECONDS)
    except (MqttError, TaskFailed) as err:
        raise MqttError(ctx.mask(str(err))) from None
    generation, taken = session.take(limit)
    if not taken:
        return Batch()
    topics = _topics(props)
    fresh, cursor = fresh_events(ctx.cursor, taken,
                                 lambda name: any(mqtt.topic_matches_sub(t, name) for t in topics))
    events: list[TriggerEvent] = []
    if per_message:
        for seq, item in fresh:
            message = _message(item, serde)
            events.append(TriggerEvent(f"{seq}-{digest(item)}",
                                       {**message, "messageId": message.pop("id")}))
    elif fresh:
        qc.prune(ctx.work_dir)  # batch files of runs long done
        first, last = fresh[0][0], fresh[-1][0]
        messages = [_message(item, serde) for _, item in fresh]
        path = ctx.work_dir / f"messages-{first}-{last}.jsonl"
        qc.write_jsonl(path, messages)
        events.append(TriggerEvent(f"{first}-{last}-{digest(fresh[0][1])}", {
            "uri": str(path), "messagesCount": len(messages), "count": len(messages),
            **qc.inline(messages)}))

    def finish(committed: bool) -> None:
        if committed:
            qc.pause_for_tests("mqtt_ack")  # the crash window between the commit and the acks
            session.ack(generation, taken)
        else:
            session.give_back(generation, taken)

    return Batch(events, cursor, finish)


def poll_trigger(ctx: TriggerContext) -> Batch:
    return _poll(ctx, per_message=False)


def poll_realtime(ctx: TriggerContext) -> Batch:
    return _poll(ctx, per_message=True)


# -- type definitions -------------------------------------------------------------------

TYPES = (
    TypeDef(name="io.kestra.plugin.mqtt.Publish", kind="task",
            title="Publish messages to an MQTT topic; outputs messagesCount",
            properties=PUBLISH, required=("server", "topic", "from"), run=run_publish),
    TypeDef(name="io.kestra.plugin.mqtt.Subscribe", kind="task",
            title="Receive messages from MQTT topics until maxRecords or maxDuration; outputs "
                  "messagesCount, uri (JSON Lines) and messages",
            properties=SUBSCRIBE, required=("server", "topic"), run=run_subscribe),
    TypeDef(name="io.kestra.plugin.mqtt.Trigger", kind="trigger",
            title="One run per poll with the MQTT messages received since (trigger.uri, "
                  "trigger.messagesCount, trigger.messages)",
            properties={**TRIGGER_PROPERTIES, **SUBSCRIBE}, required=("server", "topic"),
            poll=poll_trigger),
    TypeDef(name="io.kestra.plugin.mqtt.RealtimeTrigger", kind="trigger",
            title="One run per MQTT message (trigger.topic, trigger.payload, trigger.qos, "
                  "trigger.retain, trigger.messageId)",
            properties={**TRIGGER_PROPERTIES, **SUBSCRIBE}, required=("server", "topic"),
            poll=poll_realtime),
)
