"""Kestra's Redis plugin against the real redis-server: list push/pop and string tasks
through `flows run`, the list triggers through a real `flows serve`, kill -9 in between
(no event lost, none fired twice), passwords through secret() never shown."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from runner.plugins.redis_lists import processing_list
from runner.ports.polling import TriggerContext
from tests.conftest import _missing, run_cli
from tests.integration.queue_helpers import Served, b64
from tests.waiting import wait_until

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_server() -> redis.Redis:
    client = redis.Redis.from_url(URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as err:
        _missing("redis-server on 127.0.0.1:6379", f"{err} (scripts/setup test-env starts it)")
    return client


@pytest.fixture
def prefix(redis_server: redis.Redis) -> Iterator[str]:
    """A unique key prefix; its keys are deleted afterwards."""
    name = f"gftest:{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_server.scan_iter(f"{name}*")) + list(redis_server.scan_iter(f"*{name}*"))
    if keys:
        redis_server.delete(*keys)


@pytest.fixture
def acl_user(redis_server: redis.Redis) -> Iterator[tuple[str, str]]:
    """A redis user with a password, for secret() tests."""
    user, password = f"gf-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    redis_server.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    yield user, password
    redis_server.execute_command("ACL", "DELUSER", user)


def run_flow(path: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = run_cli("run", str(path), "--json", "--executor", "process", env=env)
    try:
        execution = json.loads(result.stdout)
    except ValueError:
        execution = {}
    return result.returncode, execution, result.stdout + result.stderr


def outputs(execution: dict[str, Any]) -> dict[str, Any]:
    return {t["taskId"]: t.get("outputs") or {} for t in execution["taskRunList"]}


def strings(values: list[bytes]) -> list[str]:
    return [v.decode() for v in values]


def test_push_pop_and_string_tasks(write_flow: Any, prefix: str, redis_server: redis.Redis) -> None:
    flow = write_flow(f"""
        id: lists
        namespace: demo
        tasks:
          - id: push
            type: io.kestra.plugin.redis.list.ListPush
            url: {URL}
            key: {prefix}:src
            serdeType: JSON
            from: '[{{"n": 1}}, {{"n": 2}}, "three"]'
          - id: pop
            type: io.kestra.plugin.redis.list.ListPop
            url: {URL}
            key: {prefix}:src
            serdeType: JSON
            count: 1
            maxRecords: 2
          - id: copy
            type: io.kestra.plugin.redis.list.ListPush
            url: {URL}
            key: {prefix}:copy
            serdeType: JSON
            from: "{{{{ outputs.pop.uri }}}}"
          - id: set
            type: io.kestra.plugin.redis.string.Set
            url: {URL}
            key: {prefix}:str
            value: {{"a": [1, 2]}}
            serdeType: JSON
            options:
              expirationDuration: PT1H
          - id: replace
            type: io.kestra.plugin.redis.string.Set
            url: {URL}
            key: {prefix}:str2
            value: plain
          - id: get
            type: io.kestra.plugin.redis.string.Get
            url: {URL}
            key: {prefix}:str
            serdeType: JSON
          - id: delete
            type: io.kestra.plugin.redis.string.Delete
            url: {URL}
            keys: ["{prefix}:str", "{prefix}:nothing"]
        """)
    code, execution, text = run_flow(flow)
    assert code == 0, text
    out = outputs(execution)
    assert out["push"] == {"count": 3}
    # LPUSH then LPOP (Kestra's ends of the list): the last pushed comes out first
    assert out["pop"]["count"] == 2 and out["pop"]["messages"] == ["three", {"n": 2}]
    lines = Path(out["pop"]["uri"]).read_text().splitlines()
    assert [json.loads(line) for line in lines] == ["three", {"n": 2}]
    assert strings(redis_server.lrange(f"{prefix}:src", 0, -1)) == ['{"n": 1}']
    assert sorted(strings(redis_server.lrange(f"{prefix}:copy", 0, -1))) == ['"three"', '{"n": 2}']
    assert out["get"] == {"key": f"{prefix}:str", "data": {"a": [1, 2]}}
    assert out["delete"] == {"count": 1}
    assert redis_server.get(f"{prefix}:str2") == b"plain"
    assert redis_server.exists(f"{prefix}:str") == 0


def test_bad_input_fails_with_a_clear_message(write_flow: Any, prefix: str) -> None:
    flow = write_flow(f"""
        id: bad
        namespace: demo
        tasks:
          - id: push
            type: io.kestra.plugin.redis.list.ListPush
            url: {URL}
            key: {prefix}:x
            from: not-json-and-no-file.jsonl
        """)
    code, _, text = run_flow(flow)
    assert code == 1
    assert "from: 'not-json-and-no-file.jsonl' is neither a JSON array nor a readable file" in text
    invalid = write_flow("""
        id: invalid
        namespace: demo
        tasks:
          - id: pop
            type: io.kestra.plugin.redis.list.ListPop
            key: k
        """, "invalid.yml")
    result = run_cli("validate", str(invalid))
    assert result.returncode == 1 and "url" in result.stdout


def test_password_from_secret_is_masked(write_flow: Any, prefix: str,
                                        acl_user: tuple[str, str]) -> None:
    user, password = acl_user
    flow = write_flow(f"""
        id: secret_pw
        namespace: demo
        tasks:
          - id: push
            type: io.kestra.plugin.redis.list.ListPush
            url: "redis://{user}:{{{{ secret('REDIS_PASSWORD') }}}}@127.0.0.1:6379/0"
            key: {prefix}:s
            from: [one]
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "pushed to redis://{user}:{{{{ secret('REDIS_PASSWORD') }}}}@127.0.0.1:6379/0"
        """)
    code, _, text = run_flow(flow, {"SECRET_REDIS_PASSWORD": b64(password)})
    assert code == 0, text
    assert password not in text and "******" in text
    code, _, text = run_flow(flow, {"SECRET_REDIS_PASSWORD": b64("wrong-" + password)})
    assert code == 1
    assert password not in text and ("invalid username-password" in text.lower()
                                     or "WRONGPASS" in text), text


def batch_flow(prefix: str, interval: str = "PT0.3S") -> str:
    return f"""\
id: batches
namespace: demo
triggers:
  - id: watch
    type: io.kestra.plugin.redis.list.Trigger
    url: {URL}
    key: {prefix}:in
    interval: {interval}
    maxRecords: 50
tasks:
  - id: from_file
    type: io.kestra.plugin.redis.list.ListPush
    url: {URL}
    key: {prefix}:via_uri
    from: "{{{{ trigger.uri }}}}"
  - id: inline
    type: io.kestra.plugin.redis.list.ListPush
    url: {URL}
    key: {prefix}:via_inline
    from: "{{{{ trigger.messages | toJson }}}}"
  - id: count
    type: io.kestra.plugin.redis.list.ListPush
    url: {URL}
    key: {prefix}:counts
    from: ["{{{{ trigger.count }}}}"]
"""


def _processing(prefix: str, flow_id: str, trigger_id: str = "watch") -> str:
    ctx = TriggerContext("demo", flow_id, trigger_id, {}, None, Path("."))
    return processing_list(ctx, f"{prefix}:in")


def test_trigger_fires_once_per_poll_across_kill_9(tmp_path: Path, prefix: str,
                                                   redis_server: redis.Redis) -> None:
    served = Served(tmp_path, batch_flow(prefix), {})
    served.start()
    try:
        redis_server.lpush(f"{prefix}:in", "a", "b", "c")
        wait_until(lambda: len(redis_server.lrange(f"{prefix}:via_uri", 0, -1)) >= 3, "first batch")
        wait_until(served.all_done, "first runs to finish")
        served.kill9()
        redis_server.lpush(f"{prefix}:in", "d", "e")
        served.start()
        wait_until(lambda: len(redis_server.lrange(f"{prefix}:via_uri", 0, -1)) >= 5, "second batch")
        wait_until(lambda: served.all_done() and redis_server.llen(_processing(prefix, "batches")) == 0,
                   "second runs to finish")
        time.sleep(1)  # several more polls: nothing may fire again
        for key in ("via_uri", "via_inline"):
            assert sorted(strings(redis_server.lrange(f"{prefix}:{key}", 0, -1))) == list("abcde")
        counts = sorted(int(c) for c in strings(redis_server.lrange(f"{prefix}:counts", 0, -1)))
        assert sum(counts) == 5  # trigger.count of each run: every item counted once
        assert redis_server.llen(f"{prefix}:in") == 0
    finally:
        served.stop()


def test_kill_9_between_commit_and_ack_fires_nothing_twice(tmp_path: Path, prefix: str,
                                                           redis_server: redis.Redis) -> None:
    served = Served(tmp_path, batch_flow(prefix), {})
    served.start({"GITFLOWS_TEST_PAUSE_BEFORE_ACK": "60"})
    processing = _processing(prefix, "batches")
    try:
        redis_server.lpush(f"{prefix}:in", "p", "q")
        wait_until(lambda: len(redis_server.lrange(f"{prefix}:via_uri", 0, -1)) == 2, "the batch's run")
        wait_until(lambda: served.all_done(1), "the run to finish")
        assert redis_server.llen(processing) == 2  # committed, not yet acknowledged
        served.kill9()
        served.start()
        wait_until(lambda: redis_server.llen(processing) == 0, "the processing list to be cleared")
        time.sleep(1)  # several more polls: nothing may fire again
        assert served.executions() == []
        assert sorted(strings(redis_server.lrange(f"{prefix}:via_uri", 0, -1))) == ["p", "q"]
    finally:
        served.stop()


def test_kill_9_between_take_and_commit_loses_nothing(tmp_path: Path, prefix: str,
                                                      redis_server: redis.Redis) -> None:
    served = Served(tmp_path, batch_flow(prefix), {})
    served.start({"GITFLOWS_TEST_PAUSE_AFTER_TAKE": "60"})
    processing = _processing(prefix, "batches")
    try:
        redis_server.lpush(f"{prefix}:in", "x", "y")
        wait_until(lambda: redis_server.llen(processing) == 2, "the items to be taken")
        assert redis_server.llen(f"{prefix}:in") == 0
        served.kill9()
        assert redis_server.llen(f"{prefix}:via_uri") == 0
        served.start()
        wait_until(lambda: len(redis_server.lrange(f"{prefix}:via_uri", 0, -1)) >= 2, "the batch's run")
        wait_until(lambda: served.all_done() and redis_server.llen(processing) == 0, "the run to finish")
        time.sleep(1)
        assert sorted(strings(redis_server.lrange(f"{prefix}:via_uri", 0, -1))) == ["x", "y"]
        assert len(served.executions()) == 1
    finally:
        served.stop()


def test_realtime_trigger_runs_once_per_item_with_a_secret_password(
        tmp_path: Path, prefix: str, redis_server: redis.Redis, acl_user: tuple[str, str]) -> None:
    user, password = acl_user
    url = f"redis://{user}:{{{{ secret('REDIS_PASSWORD') }}}}@127.0.0.1:6379/0"
    flow = f"""\
id: realtime
namespace: demo
triggers:
  - id: watch
    type: io.kestra.plugin.redis.list.RealtimeTrigger
    url: "{url}"
    key: {prefix}:in
    serdeType: JSON
    interval: PT0.3S
tasks:
  - id: record
    type: io.kestra.plugin.redis.list.ListPush
    url: "{url}"
    key: {prefix}:seen
    from: ["{{{{ trigger.value | toJson }}}}"]
"""
    served = Served(tmp_path, flow, {"SECRET_REDIS_PASSWORD": b64(password)})
    served.start()
    try:
        redis_server.lpush(f"{prefix}:in", *[json.dumps({"n": n}) for n in range(3)])
        wait_until(lambda: served.all_done(3), "three runs")
        served.kill9()
        redis_server.lpush(f"{prefix}:in", json.dumps({"n": 3}), "not json")
        served.start()
        wait_until(lambda: served.all_done(2), "two more runs")
        time.sleep(1)
        seen = strings(redis_server.lrange(f"{prefix}:seen", 0, -1))
        # an item that is not JSON stays a string (a poison item must not block the list)
        assert sorted(seen) == ['"not json"'] + [f'{{"n":{n}}}' for n in range(4)]
        assert len(served.executions()) == 2
        assert password not in served.log.read_text()
    finally:
        served.stop()
