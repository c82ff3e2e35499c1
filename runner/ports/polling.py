"""Event triggers: trigger types that watch something outside git (a table, a bucket, a
queue, a topic, a directory) and start runs when something appears there.

A type opts in with `TypeDef(kind="trigger", poll=...)`. The server calls `poll(ctx)`
every `interval` (Kestra's property, an ISO-8601 duration; `DEFAULT_INTERVAL` when
absent) with the trigger's rendered properties and its committed cursor. The poll
answers a Batch: the events to fire (each one run, its variables under `trigger.*`),
the new cursor, and `finish(committed)`, called once the server is done with the batch.

Exactly once, across crashes and restarts: the server commits the batch's runs and its
cursor in ONE transaction (the run queue's database), then calls `finish(True)`; when
the commit fails it calls `finish(False)`.
- A poll-style source (a table, a bucket, a directory) keeps its position in the cursor:
  a crash before the commit reads the same events again; after it, nothing fires twice.
- A consume-style source (a list, a queue, a topic) takes messages without
  acknowledging them and acknowledges in `finish(True)`: a crash before the commit
  redelivers them. A crash between the commit and the acknowledgement redelivers them
  too; the run queue holds one run per event key, so a redelivered message must come
  with the same `key` (a message id, or a digest kept in the cursor) to be dropped.

Polls run on server threads, never inside a flow run: they must return within about
`MAX_POLL_SECONDS`, and several triggers of one type poll concurrently. State belongs in
the cursor; a connection kept open between polls (MQTT sessions, LISTEN) lives in a table
keyed by the trigger and is closed when the trigger stops polling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.secrets import hide_credentials
from runner.secrets import masked as mask_secrets

DEFAULT_INTERVAL = dt.timedelta(seconds=60)
# Kestra's realtime triggers have no `interval`: they wait for messages. Here they are polled
# this often (each poll takes what arrived; a connection may stay open between polls).
REALTIME_INTERVAL = dt.timedelta(seconds=0.5)
REALTIME_SUFFIXES = ("RealtimeTrigger", ".Listen")
MAX_POLL_SECONDS = 30.0

# JSON Schema of the properties every event trigger accepts (merge into a TypeDef's own).
TRIGGER_PROPERTIES: Mapping[str, Any] = {
    "interval": {"type": "string", "description": "how often to poll, ISO-8601 (default PT1M)"},
    "conditions": {"type": "array"},
    "stopAfter": {"type": "array", "items": {"type": "string"}},
}

# Properties a trigger renders itself at each poll, with what it fetched (http.Trigger's
# responseCondition reads `response`): the poller hands them over as written.
LATE_PROPS = frozenset({"responseCondition"})

redact = hide_credentials  # the passwords of connection strings in logs and errors


@dataclass(frozen=True)
class TriggerEvent:
    key: str  # unique for this trigger; the same on redelivery of the same event
    variables: Mapping[str, Any]  # the run's trigger.* (besides `type` and `id`)


@dataclass(frozen=True)
class Batch:
    events: Sequence[TriggerEvent] = ()
    cursor: Any = None  # JSON-serialisable; saved with the runs (None: keep the old one)
    finish: Callable[[bool], None] | None = None  # after the commit (True) or its failure


NOTHING = Batch()


@dataclass(frozen=True)
class TriggerContext:
    namespace: str
    flow_id: str
    trigger_id: str
    props: Mapping[str, Any]  # rendered: secret() and flow.* expressions resolved
    cursor: Any  # what the last committed batch saved; None the first time
    work_dir: Path  # this trigger's own directory, kept across polls (files handed to runs)
    log: Callable[[str, str], None] = field(default=lambda level, message: None)
    masked: frozenset[str] = frozenset()  # secret values used in props, never to be shown

    def mask(self, text: str) -> str:
        """text with secret values and URL passwords hidden: use for every log or error."""
        return redact(mask_secrets(text, self.masked))


TriggerPoll = Callable[[TriggerContext], Batch]
