"""What the AMQP plugin (runner/plugins/amqp.py) says without pika: its property schemas
and how a message is recognised when the broker delivers it again."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from runner.plugins.queue_common import BOOL_OR_EXPR, INT_OR_EXPR, SERDE_PROPERTY

EXCHANGE_TYPES = ("DIRECT", "FANOUT", "TOPIC", "HEADERS")
CONNECTION = {
    "url": {"type": "string", "description": "amqp://user:password@host:port/virtualHost (deprecated)"},
    "host": {"type": "string"}, "port": INT_OR_EXPR, "username": {"type": "string"},
    "password": {"type": "string"}, "virtualHost": {"type": "string"}}
CONSUME = {**CONNECTION, "queue": {"type": "string"}, "serdeType": SERDE_PROPERTY,
            "consumerTag": {"type": "string"}, "autoAck": BOOL_OR_EXPR}
ADMIN_ARGS = {"args": {"type": "object"}, "durability": BOOL_OR_EXPR, "autoDelete": BOOL_OR_EXPR}
DURATION = {"type": "string", "description": "ISO-8601 duration"}


def message_key(body: bytes, props: Any, exchange: str, routing_key: str) -> str:
    """A message's key in the trigger's cursor: its message_id, else a digest of it."""
    if props.message_id:
        return f"id:{props.message_id}"
    headers = json.dumps(props.headers or {}, sort_keys=True, default=str)
    digest = hashlib.sha256(b"\0".join([body, headers.encode(), exchange.encode(), routing_key.encode()]))
    return f"sha256:{digest.hexdigest()[:32]}"
