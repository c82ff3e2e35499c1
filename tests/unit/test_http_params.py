"""What every request passes through before its route runs (webhooks/ingress/httpapi.py, auth.py,
editing.branch_name, server.loggable), fuzzed: malformed query parameters are a 400, never
another exception; the auth exemption follows the route the real router matched, not a path
prefix; branch names a save accepts are ones git accepts; log lines stay one line."""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from runner.errors import UsageError
from runner.executors import Executors, LocalExecutor
from webhooks.app import create_app
from webhooks.config import ServerConfig
from webhooks.ingress import auth, httpapi
from webhooks.ingress.auth import Gate
from webhooks.ingress.httpapi import BadRequestError
from webhooks.runs.service import FlowService
from webhooks.server import LOG_FORMAT, OneLineFormatter, loggable
from webhooks.ui.editing import branch_name

CONTROL = [chr(c) for c in [*range(0x20), *range(0x7f, 0xa0)]] + ["\u2028", "\u2029"]
segments = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12)


# -- query parameters -----------------------------------------------------------------------
@given(st.text(max_size=30))
def test_an_integer_parameter_is_a_positive_number_or_a_400(raw: str) -> None:
    try:
        value = httpapi.integer({"limit": raw}, "limit", 7, high=500)
    except BadRequestError as err:
        assert "limit" in err.message
        return
    assert value == 7 if not raw.strip() else 1 <= value <= 500


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "+3", "1.5", "1e3", "\u0663", "9" * 5000, " 2 x"])
def test_malformed_numbers(raw: str) -> None:
    for name in ("limit", "size", "page"):
        with pytest.raises(BadRequestError, match=name):
            httpapi.check_query([(name, raw)])


def test_numbers_are_clamped_not_refused_above_a_route_s_page() -> None:
    assert httpapi.integer({"limit": "10000"}, "limit", 50, high=500) == 500
    assert httpapi.integer({"limit": " 12 "}, "limit", 50) == 12
    assert httpapi.integer({}, "limit", 50) == 50


@given(st.sampled_from(sorted(httpapi.TEXTS)), st.text(max_size=20), st.sampled_from(CONTROL),
       st.text(max_size=20))
def test_a_control_character_in_a_parameter_the_server_reads_is_a_400(
        name: str, before: str, control: str, after: str) -> None:
    with pytest.raises(BadRequestError, match=name):
        httpapi.check_query([("x", "fine"), (name, before + control + after)])


@given(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=30)), max_size=6))
def test_checking_parameters_raises_nothing_but_a_400(pairs: list[tuple[str, str]]) -> None:
    with contextlib.suppress(BadRequestError):
        httpapi.check_query(pairs)


# -- the auth exemption follows the matched route --------------------------------------------
@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MapAdapter]:
    """The URL map of the real app (no repositories served)."""
    data = tmp_path_factory.mktemp("data")
    service = FlowService(ServerConfig(data_dir=data), Executors(LocalExecutor()), environ={})
    try:
        yield create_app(service).url_map.bind("127.0.0.1")
    finally:
        service.close()


def _matched(router: MapAdapter, method: str, path: str) -> str | None:
    try:
        rule, _ = router.match(path, method, return_rule=True)
    except HTTPException:  # no route (404), another method (405), a redirect
        return None
    return str(rule.rule)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(segments, segments)
def test_starting_a_flow_of_namespace_webhook_is_never_exempt(
        router: MapAdapter, namespace: str, flow_id: str) -> None:
    for ns in ("webhook", namespace):
        path = f"/api/v1/executions/{ns}/{flow_id}"
        rule = _matched(router, "POST", path)
        assert not auth.exempt(rule) and auth.rule_of(path) is None, path


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=400)
@given(st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       st.lists(st.one_of(st.sampled_from(["api", "v1", "executions", "webhook", "hooks",
                                           "healthz", "metrics", "static", "ui", "flows", ""]),
                          segments), min_size=1, max_size=8))
def test_the_path_matcher_agrees_with_the_router(router: MapAdapter, method: str,
                                                  parts: list[str]) -> None:
    """Gate.check without a rule (callers with no router) decides as the app does with one."""
    path = "/" + "/".join(parts)
    rule = _matched(router, method, path)
    if rule is not None:
        assert auth.exempt(rule) == (auth.rule_of(path) is not None), (path, rule)


def test_exempt_routes_are_exactly_the_three() -> None:
    assert auth.rule_of("/healthz") == auth.HEALTHZ_RULE
    assert auth.rule_of("//healthz") == auth.HEALTHZ_RULE  # the router reads it as /healthz
    assert auth.rule_of("/hooks/github") == auth.HOOKS_RULE
    assert auth.rule_of("/api/v1/executions/webhook/ns/flow/key") == auth.WEBHOOK_RULE
    for path in ("/api/v1/executions/webhook/flow", "/hooks/github/x", "/hooks/", "/healthz/",
                 "/api/v1/executions/webhook/ns/flow/key/kill", "/metrics", "/static/x",
                 "/ui/static/app.js", "/api/v1/executions/webhook//flow/key"):
        assert auth.rule_of(path) is None, path


# -- blank credentials ------------------------------------------------------------------------
@pytest.mark.parametrize("environ,config", [
    ({"GITFLOWS_UI_TOKEN": "   "}, {}),
    ({"GITFLOWS_UI_TOKEN": "\t\n"}, {}),
    ({"GITFLOWS_UI_TOKEN": "tok en"}, {}),
    ({"GITFLOWS_UI_TOKEN": "token\n"}, {}),
    ({"GITFLOWS_UI_PASSWORD": "  "}, {"user": "ada"}),
    ({"GITFLOWS_UI_PASSWORD": "pw"}, {"user": " "}),
])
def test_a_blank_credential_refuses_to_start(environ: dict[str, str],
                                             config: dict[str, str]) -> None:
    ui_auth = replace(ServerConfig().ui_auth, **config)
    for host in ("127.0.0.1", "0.0.0.0"):
        with pytest.raises(UsageError, match=r"blank|whitespace"):
            Gate(ServerConfig(host=host, ui_auth=ui_auth), environ)
        with pytest.raises(UsageError, match=r"blank|whitespace"):
            auth.require_auth_when_exposed(ServerConfig(host=host, ui_auth=ui_auth), environ)


@given(st.text(" \t", max_size=5), st.text(max_size=8))
def test_a_blank_password_never_authenticates(blank: str, user: str) -> None:
    import base64

    gate = Gate(ServerConfig(), {"GITFLOWS_UI_TOKEN": "t0ken"})
    pair = base64.b64encode(f"{user}:{blank}".encode()).decode()
    assert gate.authenticated(f"Basic {pair}") == (False, False)
    assert gate.authenticated(f"Bearer {blank}") == (False, False)


# -- branch names -----------------------------------------------------------------------------
REFUSED = ["@", "HEAD", "refs/notes/flows", "refs/heads/main", "refs/x", "-x", "a..b", "a b",
           "../x", "x/../../y", "x.lock", "x/y.lock/z", ".x", "a/.b", "@{-1}", "a@{u}", "a/",
           "/a", "a//b", "a\\b", "a\nb", "a\x00b", "x.", "a:b", "a~1", "a^", "a?", "a*", "a[b",
           "", "x" * 300]


@pytest.mark.parametrize("name", REFUSED)
def test_branch_names_a_save_refuses(name: str) -> None:
    with pytest.raises(BadRequestError):
        branch_name(name)


@pytest.mark.parametrize("name", ["main", "feature/x", "release-1.2", "héllo", "a@b", "FETCH_HEAD"])
def test_branch_names_a_save_accepts(name: str) -> None:
    assert branch_name(name) == name


def _git_accepts(name: str) -> bool:
    done = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True,
                          cwd=Path("/"))
    return done.returncode == 0


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from(list("ab./-@{}~^:?*[\\ \t\n.lockHEADrefs")), max_size=14))
def test_every_name_a_save_accepts_git_accepts(name: str) -> None:
    try:
        branch_name(name)
    except BadRequestError:
        return
    assert _git_accepts(name), name


# -- log lines --------------------------------------------------------------------------------
@given(st.text(max_size=60))
def test_a_logged_value_stays_on_one_line(value: str) -> None:
    record = logging.LogRecord("gitflows", logging.INFO, __file__, 1, "ref %s queued", (value,),
                               None)
    line = OneLineFormatter(LOG_FORMAT).format(record)
    assert not any(c in line for c in CONTROL), line
    assert line.endswith(loggable(value) + " queued")
    if value.isprintable():
        assert loggable(value) == value
