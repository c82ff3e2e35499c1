"""What the MQTT triggers decide without a client library: which received messages are new
events (and which are redeliveries to drop), their stable keys and the cursor recording them,
and the JSON Schema of the MQTT properties. The paho client lives in runner/plugins/mqtt.py.

MQTT 3.1.1 messages carry no id. An event key is `<seq>-<digest of topic and payload>`, seq
a counter kept in the cursor. A committed message redelivered because its ack was lost (a
crash between the commit and the ack) comes back flagged `dup` with its packet id: the
cursor remembers (packet id, digest) of the last `WINDOW` committed messages and drops such
a redelivery. A retained message fires once per content and topic (the broker resends it on
every resubscribe).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.plugins import queue_common as qc

WINDOW = 1000  # committed messages remembered to drop their redelivery
VERSION_NAMES = ("V3", "V5")
SERDES = ("STRING", "JSON")


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int  # the packet id: the same when the broker redelivers the message
    dup: bool  # set by the broker on a redelivery


def digest(item: Received) -> str:
    return hashlib.sha256(item.topic.encode() + b"\0" + item.payload).hexdigest()[:16]


def fresh_events(cursor: Any, taken: list[Received], subscribed: Callable[[str], bool]
                 ) -> tuple[list[tuple[int, Received]], dict[str, Any]]:
    """The messages to fire (with their sequence numbers) and the cursor that records them;
    `subscribed(topic)`: does the trigger's current `topic` cover it."""
    saved = cursor if isinstance(cursor, dict) else {}
    seq = int(saved.get("seq", 0))
    recent = [(int(mid), str(d)) for mid, d in saved.get("recent", [])]
    known = set(recent)
    retained: dict[str, str] = dict(saved.get("retained", {}))
    fresh: list[tuple[int, Received]] = []
    for item in taken:
        hashed = digest(item)
        if item.dup and (item.mid, hashed) in known:
            continue  # taken by a committed batch before; only its ack was lost
        if item.qos > 0:  # fired or dropped, it is acked with this batch
            recent.append((item.mid, hashed))
        if item.retain and retained.get(item.topic) == hashed:
            continue  # the broker resends retained messages on every subscribe
        if not subscribed(item.topic):
            continue  # a subscription of older settings still on the persistent session
        seq += 1
        fresh.append((seq, item))
        if item.retain:
            retained.pop(item.topic, None)
            retained[item.topic] = hashed
    kept = dict(list(retained.items())[-WINDOW:])
    return fresh, {"seq": seq, "recent": [list(r) for r in recent[-WINDOW:]], "retained": kept}


CONNECTION: dict[str, Any] = {
    "server": {"type": "string", "description": "tcp://host:1883 or ssl://host:8883"},
    "version": {"type": "string", "enum": list(VERSION_NAMES), "description": "V3 (3.1.1) or V5 (default)"},
    "clientId": {"type": "string"},
    "username": {"type": "string"},
    "password": {"type": "string"},
    "crt": {"type": "string", "description": "CA certificate file for ssl://"},
    "connectionTimeout": {"type": "string"},
    "httpsHostnameVerificationEnabled": qc.BOOL_OR_EXPR,
    "authMethod": {"type": "string"},
}
SUBSCRIBE: dict[str, Any] = {
    **CONNECTION,
    "topic": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "qos": qc.INT_OR_EXPR,
    "serdeType": {"type": "string", "enum": list(SERDES), "description": "JSON (default) or STRING"},
    "maxRecords": qc.INT_OR_EXPR, "maxDuration": {"type": "string"},
}
PUBLISH: dict[str, Any] = {
    **CONNECTION, "topic": {"type": "string"}, "from": {"type": ["string", "array", "object"]},
    "retain": qc.BOOL_OR_EXPR, "qos": qc.INT_OR_EXPR,
    "serdeType": {"type": "string", "enum": list(SERDES), "description": "STRING (default) or JSON"},
}
