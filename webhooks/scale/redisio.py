"""Redis access for scale-out; the only module that imports redis.

Keys (prefix `gitflows:`):
- `run:<key>` hash: the run ledger. state queued → running (owner, execution) → done.
  Created once per run key (the enqueue dedupe shared by server replicas), kept RUN_TTL.
- `heartbeats` sorted set worker → last beat (unix seconds); `workers` hash worker → JSON
  (host, pid, queues, concurrency, current runs, heartbeat timeout): the live registry.
- `events` stream: state snapshots and log lines of runs, from workers to servers.
- `control:<execution>` hash: kill / resume requests for the worker running it.
- `group:<concurrency group>` sorted set execution → when its run was queued: the runs of
  one flow for one branch or pull request that workers are running (a newer one kills the
  older ones, whichever worker runs them), kept CONTROL_TTL after the last change.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

PREFIX = "gitflows:"
RUN_TTL = 7 * 24 * 3600  # a run key is deduplicated this long
CONTROL_TTL = 24 * 3600
EVENTS_MAXLEN = 100_000

# A key is reserved once; its own sender may send it again while no worker has claimed it
# (the sender died between reserving and sending, and forwards it again after a restart).
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'state') == 'queued' and redis.call('HGET', KEYS[1], 'by') == ARGV[4]
    and not redis.call('HGET', KEYS[1], 'owner') then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'queued', ARGV[1], 'queue', ARGV[2], 'by', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# A delivery may run only after claiming its key. A running claim whose owner still beats
# is busy; one whose owner stopped beating is taken over, and the execution it ran (or a
# stopping worker handed back) is returned: the run goes on under that execution id.
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then return {'done', '', 0} end
local owner = redis.call('HGET', KEYS[1], 'owner')
if state == 'running' and owner == ARGV[1] then return {'busy', owner, 0} end
if state == 'running' and owner and owner ~= '' then
  local beat = redis.call('ZSCORE', KEYS[2], owner)
  if beat and tonumber(beat) > tonumber(ARGV[2]) - tonumber(ARGV[3]) then
    return {'busy', owner, 0}
  end
end
local previous = redis.call('HGET', KEYS[1], 'execution') or ''
redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1], 'claimed', ARGV[2])
redis.call('HDEL', KEYS[1], 'execution')
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'claimed', previous, attempts}
"""

_IF_OWNER = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


@dataclass(frozen=True)
class Claim:
    status: str  # claimed | done | busy
    previous: str  # claimed: the execution of a dead owner's attempt ('' if none)
    attempts: int


def connect(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
    try:
        client.ping()
    except redis.RedisError as err:
        from runner.errors import UsageError

        raise UsageError(f"--broker {url}: Redis does not answer ({err})") from None
    return client


class Ledger:
    """Which runs were queued, who runs them, which are done: once per run key."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._claim = client.register_script(_CLAIM)
        self._if_owner = client.register_script(_IF_OWNER)

    def reserve(self, key: str, queue: str, sender: str) -> bool:
        """True for the first enqueue of this key (across every server replica), and for its
        sender again until a worker claims it."""
        return bool(self._reserve(keys=[PREFIX + "run:" + key],
                                  args=[time.time(), queue, RUN_TTL, sender]))

    def forget(self, key: str) -> None:
        self.client.delete(PREFIX + "run:" + key)

    def claim(self, key: str, worker: str, heartbeat_timeout: float) -> Claim:
        status, previous, attempts = self._claim(
            keys=[PREFIX + "run:" + key, PREFIX + "heartbeats"],
            args=[worker, time.time(), heartbeat_timeout, RUN_TTL])
        return Claim(str(status), str(previous or ""), int(attempts))

    def _set(self, key: str, worker: str, *pairs: Any) -> bool:
        return bool(self._if_owner(keys=[PREFIX + "run:" + key], args=[worker, *pairs]))

    def started(self, key: str, worker: str, execution_id: str) -> bool:
        return self._set(key, worker, "execution", execution_id, "started", time.time())

    def finish(self, key: str, worker: str, state: str, execution_id: str) -> bool:
        """Mark the run done, if this worker still owns it (else a newer owner took over).
        The execution is recorded here too: a run that had ended before its worker died
        is settled by the next owner without starting again."""
        return self._set(key, worker, "state", "done", "result", state, "finished", time.time(),
                         "execution", execution_id)

    def release(self, key: str, worker: str, *, keep_execution: bool = False) -> bool:
        """Give the run back: unstarted (a later delivery claims it afresh), or handed back
        by a stopping worker (keep_execution: it goes on under the same execution id)."""
        if keep_execution:
            return self._set(key, worker, "state", "queued", "owner", "")
        return self._set(key, worker, "state", "queued", "owner", "", "execution", "")

    def get(self, key: str) -> dict[str, str]:
        return dict(self.client.hgetall(PREFIX + "run:" + key))  # type: ignore[arg-type]

    def all(self) -> dict[str, dict[str, str]]:
        """Every run in the ledger (tests and benchmarks)."""
        keys = list(self.client.scan_iter(PREFIX + "run:*", count=1000))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return {str(k)[len(PREFIX) + 4:]: dict(v) for k, v in zip(keys, pipe.execute(), strict=True)}


class Registry:
    """Live workers: each beats every second with what it runs."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def beat(self, worker: str, info: dict[str, Any]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(PREFIX + "heartbeats", {worker: time.time()})
        pipe.hset(PREFIX + "workers", worker, json.dumps(info))
        pipe.execute()

    def leave(self, worker: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(PREFIX + "heartbeats", worker)
        pipe.hdel(PREFIX + "workers", worker)
        pipe.execute()

    def workers(self) -> list[dict[str, Any]]:
        """Registered workers with `heartbeat_age` (seconds) and `alive`, oldest beat last."""
        now = time.time()
        beats = dict(self.client.zrange(PREFIX + "heartbeats", 0, -1, withscores=True))  # type: ignore[arg-type]
        infos: dict[str, str] = self.client.hgetall(PREFIX + "workers")  # type: ignore[assignment]
        found = []
        for worker, raw in infos.items():
            info = json.loads(raw)
            age = now - float(beats.get(worker, 0.0))
            found.append({**info, "id": worker, "heartbeat_age": round(age, 1),
                          "alive": age <= float(info.get("heartbeat_timeout", 30))})
        return sorted(found, key=lambda w: w["heartbeat_age"])

    def forget_dead(self, older_than: float) -> None:
        """Drop registry entries of workers silent for older_than seconds (kept a while for
        `flows workers`, which shows them as dead)."""
        for worker in self.client.zrangebyscore(PREFIX + "heartbeats", 0, time.time() - older_than):
            self.leave(str(worker))


class Events:
    """The stream of run events from workers; every server replica reads all of it."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.key = PREFIX + "events"

    def add(self, kind: str, execution_id: str, data: dict[str, Any]) -> None:
        self.client.xadd(self.key, {"k": kind, "id": execution_id, "d": json.dumps(data, default=str)},
                         maxlen=EVENTS_MAXLEN, approximate=True)

    def read(self, after: str, block_ms: int) -> list[tuple[str, str, str, dict[str, Any]]]:
        """Entries after the stream id `after` ('$': only new ones): (id, kind, execution, data)."""
        answer: Any = self.client.xread({self.key: after}, count=500, block=block_ms)
        found = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                found.append((str(entry_id), str(fields["k"]), str(fields["id"]), json.loads(fields["d"])))
        return found

    def last_id(self) -> str:
        entries: Any = self.client.xrevrange(self.key, count=1)
        return str(entries[0][0]) if entries else "0-0"


class Controls:
    """Kill and resume requests, waiting for the worker that runs the execution."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def request(self, execution_id: str, what: str, value: Any = True) -> None:
        key = PREFIX + "control:" + execution_id
        pipe = self.client.pipeline()
        pipe.hset(key, what, json.dumps(value, default=str))
        pipe.expire(key, CONTROL_TTL)
        pipe.execute()

    def take(self, execution_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Pending requests for these executions (removed once taken)."""
        if not execution_ids:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for execution_id in execution_ids:
            pipe.hgetall(PREFIX + "control:" + execution_id)
        found = {}
        for execution_id, fields in zip(execution_ids, pipe.execute(), strict=True):
            if fields:
                found[execution_id] = {k: json.loads(v) for k, v in fields.items()}
                self.client.delete(PREFIX + "control:" + execution_id)
        return found


class Groups:
    """Runs of a concurrency group (webhooks/runs/records.py supersede_group) across workers."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def join(self, group: str, execution_id: str, queued: float) -> tuple[list[str], bool]:
        """List a starting run: the runs of the group queued before it (to kill), and whether
        one queued after it is listed already (then this one is superseded itself)."""
        key = PREFIX + "group:" + group
        pipe = self.client.pipeline()
        pipe.zadd(key, {execution_id: queued})
        pipe.expire(key, CONTROL_TTL)
        pipe.zrange(key, 0, -1, withscores=True)
        members: Any = pipe.execute()[-1]
        mine = (queued, execution_id)
        older = [str(m) for m, score in members if (float(score), str(m)) < mine]
        newer = any((float(score), str(m)) > mine for m, score in members)
        return older, newer

    def leave(self, group: str, *execution_ids: str) -> None:
        if execution_ids:
            self.client.zrem(PREFIX + "group:" + group, *execution_ids)
