"""Failure alerts with scale-out: `flows serve --broker` with a `notify:` target hands a failing
run to a real `flows worker` over a real redis-server; the worker sends the alert (the
server's alert targets travel in the broker message as plain data)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.reporters.notify import (
    EmailAlert,
    WebhookAlert,
    alert_from_data,
    alerts_from_data,
    alerts_to_data,
)
from tests.conftest import Server
from tests.integration.test_alerts import BROKEN
from tests.integration.test_scale import (  # noqa: F401 (fixtures)
    Worker,
    _ledger,
    _repo,
    _until,
    redis_server,
    redis_url,
)
from tests.integration.test_serve import call
from tests.unit.test_plugins_notifications import SlackStandIn


@pytest.fixture
def listener() -> Iterator[SlackStandIn]:
    """A local HTTP server recording each POST (path, content type, JSON body)."""
    stand_in = SlackStandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def test_alert_targets_round_trip_as_plain_data() -> None:
    alerts = (WebhookAlert("https://hooks.example/x", "slack"),
              EmailAlert(("ops@example.com",), "ci@example.com", "smtp.example.com", 2525, "SMTP",
                         "SMTP_USER", "SMTP_PASSWORD"))
    data = json.loads(json.dumps(alerts_to_data(alerts)))
    assert alerts_from_data(data) == alerts
    with pytest.raises(ValueError, match="not an alert"):
        alert_from_data({"url": "https://hooks.example/x"})


def test_a_failed_run_on_a_worker_alerts_once(tmp_path: Path, redis_url: str,  # noqa: F811
                                              listener: SlackStandIn) -> None:
    repo = _repo(tmp_path, {".flows/broken.yml": BROKEN})
    config = tmp_path / "serve.yml"
    config.write_text(f"repos:\n  - name: demo\n    location: {repo}\nnotify:\n  - {listener.url}\n")
    server = Server(["--config", str(config), "--broker", redis_url, "--data",
                     str(tmp_path / "serve"), "--executor", "process"],
                    cwd=repo, log=tmp_path / "serve.log")
    worker = Worker(redis_url, tmp_path / "w1")
    try:
        status, started = call(server.base, "POST", "/api/v1/executions/demo/broken", body={})
        assert status == 200, started
        run = str(started["id"])

        def finished() -> str:
            state = str(call(server.base, "GET", f"/api/v1/executions/{run}")[1]["state"]["current"])
            return state if state in ("SUCCESS", "FAILED", "KILLED") else ""

        try:
            assert _until("the run's end", finished) == "FAILED"
            [(_, _, alert)] = _until("the alert", lambda: listener.received)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{(tmp_path / 'w1.log').read_text()[-3000:]}") from None
        assert _ledger(redis_url)[f"api:{run}"]["result"] == "FAILED"  # it ran on the worker
        time.sleep(2)  # a second alert (server and worker both sending) would come by now
    finally:
        worker.stop()
        server.stop()
    assert len(listener.received) == 1, listener.received
    assert alert["execution"] == run and alert["state"] == "FAILED"
    assert alert["flow"] == "demo.broken" and alert["failedTask"] == "build"
    # public_url is unset: the worker's link leads to the server that handed it the run
    assert str(alert["url"]).startswith(f"{server.base}/"), alert
    assert "not JSON serializable" not in (tmp_path / "serve.log").read_text()
