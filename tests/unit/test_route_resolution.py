"""Route resolution of the real app's URL map: POST /api/v1/executions/{namespace}/{flowId}
starts that flow whatever its id, action names (`kill`, `rerun` …) included, and an action
route takes only an execution id (webhooks/ingress/httpapi.py EXECUTION_ID)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import MapAdapter

from runner.executors import Executors, LocalExecutor
from runner.ids import ulid
from runner.language.schema import FLOW_ID, NAMESPACE
from webhooks.app import create_app
from webhooks.config import ServerConfig
from webhooks.ingress import httpapi
from webhooks.runs.service import FlowService

EXECUTIONS = "/api/v1/executions/"
_ACTION = re.compile(r"^/api/v1/executions/<[^>]+>/([^<>/]+)$")


@pytest.fixture(scope="module")
def app_map(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MapAdapter, dict[str, set[str]]]]:
    """The real app's router, and its action routes: name → methods."""
    service = FlowService(ServerConfig(data_dir=tmp_path_factory.mktemp("data")),
                          Executors(LocalExecutor()), environ={})
    try:
        url_map = create_app(service).url_map
        actions: dict[str, set[str]] = {}
        for rule in url_map.iter_rules():
            found = _ACTION.match(rule.rule)
            if found:
                actions.setdefault(found.group(1), set()).update(rule.methods or ())
        yield url_map.bind("127.0.0.1"), actions
    finally:
        service.close()


namespaces = st.one_of(st.sampled_from(["demo", "webhook", "search", "company.team", "0" * 26]),
                       st.from_regex(NAMESPACE, fullmatch=True).filter(lambda n: len(n) <= 150))
flow_ids = st.from_regex(FLOW_ID, fullmatch=True).filter(lambda f: len(f) <= 100)


def test_the_action_routes_are_found(app_map: tuple[MapAdapter, dict[str, set[str]]]) -> None:
    _, actions = app_map
    assert {"kill", "resume", "rerun", "follow"} <= set(actions), actions
    assert "DELETE" in actions["kill"]  # Kestra's method


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(namespaces, st.data())
def test_a_flow_start_never_resolves_to_an_action(
        app_map: tuple[MapAdapter, dict[str, set[str]]], namespace: str, data: st.DataObject) -> None:
    router, actions = app_map
    flow_id = data.draw(st.one_of(st.sampled_from(sorted(actions)), flow_ids), label="flow_id")
    endpoint, args = router.match(f"{EXECUTIONS}{namespace}/{flow_id}", "POST")
    assert (endpoint, args) == ("start", {"namespace": namespace, "flow_id": flow_id})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.integers(min_value=0, max_value=2**48 - 1), st.data())
def test_an_execution_id_resolves_to_its_action(
        app_map: tuple[MapAdapter, dict[str, set[str]]], ms: int, data: st.DataObject) -> None:
    router, actions = app_map
    execution_id = ulid(ms)
    if not any(c.isalpha() for c in execution_id):  # all digits: a namespace (vanishingly rare)
        return
    action = data.draw(st.sampled_from(sorted(actions)), label="action")
    for method in sorted(actions[action] - {"HEAD", "OPTIONS"}):
        endpoint, args = router.match(f"{EXECUTIONS}{execution_id}/{action}", method)
        assert (endpoint, args) == (action, {"execution_id": execution_id})
    # any other second segment is a flow of that (invalid, hence unknown) namespace
    assert router.match(f"{EXECUTIONS}{execution_id}/hello", "POST")[0] == "start"


@given(namespaces)
def test_no_namespace_is_an_execution_id(namespace: str) -> None:
    assert not httpapi.is_execution_id(namespace)


def test_execution_ids_and_other_non_namespaces_are() -> None:
    for segment in (ulid(), ulid().lower().upper(), "01NOPE", "Demo", "a..b", "-x", "x."):
        assert httpapi.is_execution_id(segment), segment
    assert httpapi.action_rule(f"{EXECUTIONS}<execution_id>/rerun") == \
        f"{EXECUTIONS}{httpapi.EXECUTION_PART}/rerun"
    assert httpapi.action_rule("/api/v1/flows/<namespace>/<flow_id>") == \
        "/api/v1/flows/<namespace>/<flow_id>"
