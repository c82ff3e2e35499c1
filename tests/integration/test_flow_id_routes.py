"""Flows whose ids are action names (`rerun`, `kill`, `resume`, `follow` …) start through a
real `flows serve` like any other flow, and their executions still answer the action routes
by execution id (webhooks/ingress/httpapi.py EXECUTION_ID decides which is which)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Server
from tests.integration.test_rerun_serve import finished
from tests.integration.test_serve import _git, call, logged
from tests.waiting import CEILING

ACTION_IDS = ("rerun", "kill", "resume", "follow", "search", "webhook")

# demo.kill naps so it can be killed, demo.resume pauses so it can be resumed; the rest end at once
BODIES = {
    "kill": """\
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ["echo napping", "sleep 30"]
""",
    "resume": """\
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: resumed
""",
}
QUICK = """\
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "{{ flow.namespace }}.{{ flow.id }}"
"""


def _flow(namespace: str, flow_id: str, tasks: str = QUICK) -> str:
    return f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n{tasks}"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("flow-id-routes")
    repo = tmp / "repo"
    (repo / ".flows").mkdir(parents=True)
    for flow_id in ACTION_IDS:
        (repo / ".flows" / f"{flow_id}.yml").write_text(_flow("demo", flow_id,
                                                              BODIES.get(flow_id, QUICK)))
    # namespaces spelled like routes too: `webhook` (a route prefix) and `search`
    (repo / ".flows" / "ns-webhook.yml").write_text(_flow("webhook", "rerun"))
    (repo / ".flows" / "ns-search.yml").write_text(_flow("search", "kill"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "flows")
    server = Server(["--repo", f"demo={repo}", "--data", str(tmp / "data"),
                     "--executor", "process"], log=tmp / "serve.log")
    try:
        yield server.base
    finally:
        server.stop()


def _state_becomes(base: str, execution_id: str, state: str, timeout: float = CEILING) -> None:
    deadline = time.monotonic() + timeout
    while call(base, "GET", f"/api/v1/executions/{execution_id}")[1]["state"]["current"] != state:
        assert time.monotonic() < deadline, f"{execution_id} never {state}"
        time.sleep(0.05)


def _started(base: str, namespace: str, flow_id: str) -> dict[str, Any]:
    status, execution = call(base, "POST", f"/api/v1/executions/{namespace}/{flow_id}", body={})
    assert status == 200, execution
    assert (execution["namespace"], execution["flowId"]) == (namespace, flow_id), execution
    return dict(execution)


@pytest.mark.parametrize("namespace,flow_id", [("demo", "rerun"), ("demo", "follow"),
                                               ("demo", "search"), ("demo", "webhook"),
                                               ("webhook", "rerun"), ("search", "kill")])
def test_a_flow_named_like_an_action_starts_and_is_re_run(base: str, namespace: str,
                                                         flow_id: str) -> None:
    first = finished(base, _started(base, namespace, flow_id)["id"])
    assert first["state"]["current"] == "SUCCESS", first
    status, again = call(base, "POST", f"/api/v1/executions/{first['id']}/rerun")
    assert status == 200 and again["flowId"] == flow_id and again["id"] != first["id"], again
    assert finished(base, again["id"])["state"]["current"] == "SUCCESS"


def test_the_flow_kill_starts_and_its_execution_is_killed(base: str) -> None:
    execution = _started(base, "demo", "kill")
    logged(base, execution["id"], "napping")  # the step's process is running
    status, killed = call(base, "POST", f"/api/v1/executions/{execution['id']}/kill")
    assert status == 202, killed
    assert finished(base, execution["id"])["state"]["current"] == "KILLED"
    # Kestra's method for a kill is DELETE: an ended execution answers 409, not 405
    status, _ = call(base, "DELETE", f"/api/v1/executions/{execution['id']}/kill")
    assert status == 409


def test_the_flow_resume_starts_and_its_execution_is_resumed(base: str) -> None:
    execution = _started(base, "demo", "resume")
    _state_becomes(base, execution["id"], "PAUSED")
    status, resumed = call(base, "POST", f"/api/v1/executions/{execution['id']}/resume", body={})
    assert status == 200, resumed
    done = finished(base, execution["id"])
    assert done["state"]["current"] == "SUCCESS", done


def test_an_unknown_execution_id_is_still_a_404_of_its_action(base: str) -> None:
    for action in ("kill", "resume", "rerun"):
        status, answer = call(base, "POST", f"/api/v1/executions/01NOPE/{action}", body={})
        assert status == 404 and "01NOPE" in answer["message"], (action, answer)
    status, answer = call(base, "POST", "/api/v1/executions/demo/nosuchflow", body={})
    assert status == 404, answer
