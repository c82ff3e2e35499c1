"""Flow concurrency across `flows worker` processes: the SlotLedger (runner/engine/concurrency.py)
kept in Redis, so a flow's `concurrency: {limit, behavior}` holds over every worker.

Per flow key: `slots:<key>:running` hash holder → worker, `slots:<key>:waiting` sorted set
holder → when it joined the line (first come, first served), `slots:<key>:owners` hash
waiting holder → worker. A holder of a worker that stopped beating (dead, `kill -9`) is
dropped at the next look, so its slot is not lost. Waiting polls (the engine's cancel
token cannot wake a Redis call); each look is one atomic script.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from runner.engine.concurrency import Admission, Cancelled
from webhooks.scale.redisio import PREFIX

POLL_SECONDS = 0.2
TTL_SECONDS = 7 * 24 * 3600

# KEYS: running, waiting, owners, heartbeats. ARGV: holder, worker, limit, queue (0/1), now,
# heartbeat timeout, ttl. Returns GRANTED | QUEUED | REJECTED.
_ACQUIRE = """
local stale = tonumber(ARGV[5]) - tonumber(ARGV[6])
local function alive(worker)
  local beat = redis.call('ZSCORE', KEYS[4], worker)
  return beat and tonumber(beat) > stale
end
local running = redis.call('HGETALL', KEYS[1])
for i = 1, #running, 2 do
  if not alive(running[i + 1]) then redis.call('HDEL', KEYS[1], running[i]) end
end
local owners = redis.call('HGETALL', KEYS[3])
for i = 1, #owners, 2 do
  if not alive(owners[i + 1]) then
    redis.call('ZREM', KEYS[2], owners[i]); redis.call('HDEL', KEYS[3], owners[i])
  end
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'GRANTED' end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if (head == nil or head == ARGV[1]) and redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1]); redis.call('HDEL', KEYS[3], ARGV[1])
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
  return 'GRANTED'
end
if ARGV[4] == '0' then return 'REJECTED' end
redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
return 'QUEUED'
"""


class RedisSlots:
    """A SlotLedger in Redis for the runs of one worker (`worker`: its heartbeat id)."""

    def __init__(self, client: Any, worker: str, heartbeat_timeout: float,
                 poll: float = POLL_SECONDS) -> None:
        self.client = client
        self.worker = worker
        self.heartbeat_timeout = heartbeat_timeout
        self.poll = poll
        self._acquire = client.register_script(_ACQUIRE)
        self._limits: dict[tuple[str, str], int] = {}  # (key, holder) → its flow's limit

    def acquire(self, key: Hashable, holder: str, limit: int, *, queue: bool) -> Admission:
        name = _name(key)
        admission = self._look(name, holder, limit, queue)
        if admission is Admission.QUEUED:
            self._limits[(name, holder)] = limit
        return admission

    def wait(self, key: Hashable, holder: str, cancelled: Cancelled | None = None) -> bool:
        name = _name(key)
        limit = self._limits.get((name, holder), 1)
        try:
            while True:
                if cancelled is not None and cancelled.is_set():
                    self._leave(name, holder)
                    return False
                if self._look(name, holder, limit, True) is Admission.GRANTED:
                    return True
                time.sleep(self.poll)
        finally:
            self._limits.pop((name, holder), None)

    def release(self, key: Hashable, holder: str) -> None:
        self.client.hdel(_keys(_name(key))[0], holder)

    def _look(self, name: str, holder: str, limit: int, queue: bool) -> Admission:
        answer = self._acquire(keys=[*_keys(name), PREFIX + "heartbeats"],
                               args=[holder, self.worker, limit, int(queue), time.time(),
                                     self.heartbeat_timeout, TTL_SECONDS])
        return Admission(answer.decode() if isinstance(answer, bytes) else str(answer))

    def _leave(self, name: str, holder: str) -> None:
        running, waiting, owners = _keys(name)
        pipe = self.client.pipeline()
        pipe.hdel(running, holder)
        pipe.zrem(waiting, holder)
        pipe.hdel(owners, holder)
        pipe.execute()


def _name(key: Hashable) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "\x1f".join(str(part) for part in parts)


def _keys(name: str) -> tuple[str, str, str]:
    base = f"{PREFIX}slots:{name}:"
    return base + "running", base + "waiting", base + "owners"
