"""A second `flows serve` on a busy port stops before it starts anything: real servers, the
real mosquitto on 127.0.0.1:1883 and an MQTT RealtimeTrigger flow with a fixed clientId (so
two servers' trigger clients would share, and fight over, one broker session)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import Server, run_cli
from tests.integration.test_hooks import commit, git
from tests.integration.test_plugin_mqtt import (  # noqa: F401 (fixtures)
    FLOW,
    has,
    mosquitto,
    publish,
    topic,
    wait_values,
)


def test_a_second_server_on_a_busy_port_touches_nothing(mosquitto: str, topic: str,  # noqa: F811
                                                        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    flow = FLOW.format(kind="RealtimeTrigger", server=mosquitto, topic=topic, field="payload")
    client_id = f"gitflows-bind-{uuid.uuid4().hex[:8]}"
    commit(repo, ".flows/on_mqtt.yml",
           flow.replace("    serdeType:", f"    clientId: {client_id}\n    serdeType:"), "flow")
    publish(topic, "p0", retain=True)  # delivered on subscribe: tells us the session exists
    first = Server(["--repo", f"demo={repo}", "--data", str(tmp_path / "first"), "--executor",
                    "process"], cwd=repo, log=tmp_path / "first.log")
    try:
        wait_values(first, has("p0"))
        second = run_cli("serve", "--port", str(first.port), "--repo", f"demo={repo}", "--data",
                         str(tmp_path / "second"), "--executor", "process", cwd=repo, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"port {first.port} is in use" in second.stderr
        assert "connecting to" not in second.stderr, "its trigger pollers started"
        assert not (tmp_path / "second").exists(), "it created its data directory"

        publish(topic, "after")
        values = wait_values(first, has("p0", "after"))
    finally:
        first.stop()
        publish(topic, "", retain=True)
    assert sorted(values) == ["after", "p0"]
    log = (tmp_path / "first.log").read_text()
    assert "lost the connection" not in log and "poll failed" not in log, log[-3000:]
