"""Kestra's Redis plugin (`pip install 'gitflows[redis]'`): list push/pop, the list
triggers, and string set/get/delete. The one module that imports `redis` for plugins.

Kestra pushes with LPUSH and pops with LPOP (the head of the list), and so do we.

Exactly once for the triggers (a pop is destructive): the reliable-queue pattern. A poll
moves items (LMOVE, atomically with a batch id, in one Lua script) into a processing list
of its own, `gitflows:processing:<namespace>.<flow>.<trigger>:<key>`; the server commits
the runs with the cursor `{"batch": id}`; finish(True) deletes the processing list. After
a crash the next poll finds the processing list: when the cursor names its batch the runs
were committed (the items are just removed), otherwise they fire now, same batch id.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import redis

from runner.events import State
from runner.model import Task
from runner.plugins.queue_common import (
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

DEFAULT_COUNT = 100
DEFAULT_BATCH_SIZE = 500
REALTIME_TAKE = 100  # items per poll of a RealtimeTrigger (one run each)
TRIGGER_MAX_RECORDS = 10_000  # items per poll of a Trigger without maxRecords
_CONNECTION = {"url": {"type": "string", "description": "redis://[:password@]host:port/db"}}

# Move up to ARGV[1] items from the head of KEYS[1] to the tail of KEYS[2] and record the
# batch id in KEYS[3], all in one step: a crash leaves both or neither.
_TAKE = """
local moved = {}
for i = 1, tonumber(ARGV[1]) do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not item then break end
  moved[#moved + 1] = item
end
if #moved > 0 then redis.call('SET', KEYS[3], ARGV[2]) end
return moved
"""


def _connect(url: str, timeout: float) -> redis.Redis:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise TaskFailed(f"url must be redis://, rediss:// or unix://, got '{redact(url)}'")
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=min(timeout, 10))


def _call(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except redis.RedisError as err:
        raise TaskFailed(redact(f"redis {what}: {type(err).__name__}: {err}")) from None


# -- tasks ------------------------------------------------------------------------------------
def run_list_push(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    serde, key = serde_of(props), str(props["key"])
    values = [serialize(item, serde) for item in read_from(props.get("from"), ctx.workdir)]
    size = positive_int(props.get("batchSize"), "batchSize", DEFAULT_BATCH_SIZE) or DEFAULT_BATCH_SIZE
    with _connect(str(props["url"]), task_timeout(ctx)) as client:
        for start in range(0, len(values), size):
            chunk = values[start:start + size]
            _call("LPUSH", partial(client.lpush, key, *chunk))
    ctx.log("INFO", f"pushed {len(values)} value(s) to list '{key}'")
    return Outcome(State.SUCCESS, {"count": len(values)})


def run_list_pop(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    serde, key = serde_of(props), str(props["key"])
    count = positive_int(props.get("count"), "count", DEFAULT_COUNT) or DEFAULT_COUNT
    max_records = positive_int(props.get("maxRecords"), "maxRecords", None)
    max_duration = seconds(props.get("maxDuration"), "maxDuration")
    started, items = time.monotonic(), list[Any]()
    with _connect(str(props["url"]), task_timeout(ctx)) as client:
        while max_records is None or len(items) < max_records:
            want = count if max_records is None else min(count, max_records - len(items))
            popped = _call("LPOP", partial(client.lpop, key, want)) or []
            items.extend(deserialize(raw, serde) for raw in popped)
            if len(popped) < want or ctx.cancel.is_set():
                break  # the list is empty: Kestra stops here too
            if max_duration is not None and time.monotonic() - started >= max_duration:
                break
    path = ctx.workdir / f"{task.id}-{uuid.uuid4().hex[:8]}.jsonl"
    write_jsonl(path, items)
    kept = ctx.keep_artifact(path, "messages.jsonl")
    ctx.log("INFO", f"popped {len(items)} item(s) from list '{key}'")
    return Outcome(State.SUCCESS, {"uri": str(kept), "count": len(items), **inline(items)})


def _set_arguments(options: Mapping[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    duration = seconds(options.get("expirationDuration"), "options.expirationDuration")
    if duration is not None:
        args["px"] = max(int(duration * 1000), 1)
    if options.get("expirationDate"):
        when = dt.datetime.fromisoformat(str(options["expirationDate"]).replace("Z", "+00:00"))
        args["pxat"] = int(when.timestamp() * 1000)
    args["nx"] = flag(options.get("mustNotExist"), False)
    args["xx"] = flag(options.get("mustExist"), False)
    args["keepttl"] = flag(options.get("keepTtl"), False)
    return args


def run_set(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    serde, key = serde_of(props), str(props["key"])
    args = _set_arguments(props.get("options") or {})
    get = flag(props.get("get"), False)
    with _connect(str(props["url"]), task_timeout(ctx)) as client:
        old = _call("SET", lambda: client.set(key, serialize(props.get("value"), serde), get=get, **args))
    outputs = {"oldValue": old.decode("utf-8", "replace")} if get and isinstance(old, bytes) else {}
    return Outcome(State.SUCCESS, outputs)


def run_get(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    serde, key = serde_of(props), str(props["key"])
    with _connect(str(props["url"]), task_timeout(ctx)) as client:
        raw = _call("GET", lambda: client.get(key))
    return Outcome(State.SUCCESS, {"key": key, "data": None if raw is None else deserialize(raw, serde)})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    props = render_props(task, ctx)
    keys = props.get("keys")
    keys = [str(k) for k in (keys if isinstance(keys, list) else [keys])]
    with _connect(str(props["url"]), task_timeout(ctx)) as client:
        count = int(_call("DEL", lambda: client.delete(*keys)))
    if count != len(keys) and flag(props.get("failedOnMissing"), False):
        raise TaskFailed(f"missing keys: only {count} of {len(keys)} key(s) deleted")
    return Outcome(State.SUCCESS, {"count": count})


# -- triggers ---------------------------------------------------------------------------------
def processing_list(ctx: TriggerContext, key: str) -> str:
    """The trigger's own processing list for a source list (see the module docstring)."""
    return f"gitflows:processing:{ctx.namespace}.{ctx.flow_id}.{ctx.trigger_id}:{key}"


def _take(ctx: TriggerContext, client: redis.Redis, key: str, limit: int, per_call: int,
          max_duration: float | None) -> tuple[str | None, list[Any]]:
    """The batch id and items of this poll: those left in the processing list by a batch
    that was never committed, else new ones moved there from the source list."""
    processing = processing_list(ctx, key)
    pending: list[Any] = list(client.lrange(processing, 0, -1))
    if pending:
        batch = client.get(processing + ":batch")
        batch_id = batch.decode() if isinstance(batch, bytes) else None
        committed = isinstance(ctx.cursor, Mapping) and ctx.cursor.get("batch") == batch_id
        if batch_id is not None and committed:  # crash between commit and finish: runs exist
            client.delete(processing, processing + ":batch")
            ctx.log("INFO", f"{len(pending)} item(s) of committed batch {batch_id} removed")
        else:
            if batch_id is None:
                batch_id = uuid.uuid4().hex
                client.set(processing + ":batch", batch_id)
            ctx.log("WARNING", f"{len(pending)} item(s) of uncommitted batch {batch_id} fire again")
            return batch_id, pending
    script = client.register_script(_TAKE)
    batch_id, taken = uuid.uuid4().hex, list[Any]()
    budget = min(max_duration if max_duration is not None else MAX_POLL_TAKE_SECONDS,
                 MAX_POLL_TAKE_SECONDS)
    started = time.monotonic()
    while len(taken) < limit:
        want = min(per_call, limit - len(taken))
        moved = script(keys=[key, processing, processing + ":batch"], args=[want, batch_id])
        taken.extend(moved)
        if len(moved) < want or time.monotonic() - started >= budget:
            break
    return (batch_id if taken else None), taken


def _poll(ctx: TriggerContext, realtime: bool) -> Batch:
    props = ctx.props
    key, serde = str(props["key"]), serde_of(props)
    if realtime:
        limit, per_call, max_duration = REALTIME_TAKE, REALTIME_TAKE, None
    else:
        per_call = positive_int(props.get("count"), "count", DEFAULT_COUNT) or DEFAULT_COUNT
        limit = positive_int(props.get("maxRecords"), "maxRecords", TRIGGER_MAX_RECORDS) or 1
        max_duration = seconds(props.get("maxDuration"), "maxDuration")
    client = _connect(str(props["url"]), 10.0)
    try:
        batch_id, raw = _take(ctx, client, key, limit, per_call, max_duration)
    except redis.RedisError as err:
        client.close()
        raise TaskFailed(ctx.mask(f"redis list '{key}': {type(err).__name__}: {err}")) from None
    if batch_id is None:
        client.close()
        return NOTHING
    pause_for_tests("after_take")
    items = [deserialize(item, serde, strict=False) for item in raw]
    if realtime:
        events = [TriggerEvent(f"{batch_id}:{index}", {"value": item}) for index, item in enumerate(items)]
    else:
        prune(ctx.work_dir)
        path = ctx.work_dir / f"{batch_id}.jsonl"
        write_jsonl(path, items)
        events = [TriggerEvent(batch_id, {"uri": str(path), "count": len(items), **inline(items)})]
    processing = processing_list(ctx, key)

    def finish(committed: bool) -> None:
        try:
            if committed:  # the runs and the cursor are saved: the items are done with
                pause_for_tests("before_ack")
                client.delete(processing, processing + ":batch")
        finally:
            client.close()

    return Batch(events, {"batch": batch_id}, finish)


def poll_trigger(ctx: TriggerContext) -> Batch:
    return _poll(ctx, realtime=False)


def poll_realtime(ctx: TriggerContext) -> Batch:
    return _poll(ctx, realtime=True)


_POP_PROPS = {**_CONNECTION, "key": {"type": "string"}, "serdeType": SERDE_PROPERTY,
              "count": INT_OR_EXPR, "maxRecords": INT_OR_EXPR,
              "maxDuration": {"type": "string", "description": "ISO-8601 duration"}}

TYPES = (
    TypeDef(name="io.kestra.plugin.redis.list.ListPush", kind="task",
            title="LPUSH values (a list, a JSON array or a JSON Lines file) to a Redis list",
            properties={**_CONNECTION, "key": {"type": "string"},
                        "from": {"anyOf": [{"type": "string"}, {"type": "array"}]},
                        "serdeType": SERDE_PROPERTY, "batchSize": INT_OR_EXPR},
            required=("url", "key", "from"), run=run_list_push,
            aliases=("io.kestra.plugin.redis.ListPush",)),
    TypeDef(name="io.kestra.plugin.redis.list.ListPop", kind="task",
            title="LPOP items from a Redis list into a JSON Lines file (uri) and inline messages",
            properties=_POP_PROPS, required=("url", "key"), run=run_list_pop,
            aliases=("io.kestra.plugin.redis.ListPop",)),
    TypeDef(name="io.kestra.plugin.redis.list.Trigger", kind="trigger",
            title="Pop a Redis list every interval; one run per poll with trigger.uri/count/messages",
            properties={**TRIGGER_PROPERTIES, **_POP_PROPS}, required=("url", "key"),
            poll=poll_trigger, aliases=("io.kestra.plugin.redis.TriggerList",)),
    TypeDef(name="io.kestra.plugin.redis.list.RealtimeTrigger", kind="trigger",
            title="Pop a Redis list; one run per item with trigger.value",
            properties={**TRIGGER_PROPERTIES, **_CONNECTION, "key": {"type": "string"},
                        "serdeType": SERDE_PROPERTY},
            required=("url", "key"), poll=poll_realtime,
            aliases=("io.kestra.plugin.redis.RealtimeTriggerList",)),
    TypeDef(name="io.kestra.plugin.redis.string.Set", kind="task",
            title="SET a Redis key (options: expiration, mustNotExist, mustExist, keepTtl)",
            properties={**_CONNECTION, "key": {"type": "string"}, "value": {},
                        "serdeType": SERDE_PROPERTY, "get": {"type": ["boolean", "string"]},
                        "options": {"type": "object"}},
            required=("url", "key", "value"), run=run_set, aliases=("io.kestra.plugin.redis.Set",)),
    TypeDef(name="io.kestra.plugin.redis.string.Get", kind="task",
            title="GET a Redis key; outputs data and key",
            properties={**_CONNECTION, "key": {"type": "string"}, "serdeType": SERDE_PROPERTY},
            required=("url", "key"), run=run_get, aliases=("io.kestra.plugin.redis.Get",)),
    TypeDef(name="io.kestra.plugin.redis.string.Delete", kind="task",
            title="DEL Redis keys; outputs the number deleted",
            properties={**_CONNECTION, "keys": {"anyOf": [{"type": "array"}, {"type": "string"}]},
                        "failedOnMissing": {"type": ["boolean", "string"]}},
            required=("url", "keys"), run=run_delete, aliases=("io.kestra.plugin.redis.Delete",)),
)
