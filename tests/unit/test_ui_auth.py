"""The check before every request (webhooks/ingress/auth.py): authentication, CSRF, exposure, hosts;
property tests for the Authorization header parsing."""

from __future__ import annotations

import base64
import hmac
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import UsageError
from webhooks.config import ServerConfig, UiAuth, load_config
from webhooks.ingress import auth
from webhooks.ingress.auth import Gate, basic_pair, bearer_token, is_loopback, parse_authorization

TOKEN = "t0ken-abc.123_~+/="
LOCAL = "127.0.0.1:8080"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def gate(environ: dict[str, str] | None = None, **config: object) -> Gate:
    return Gate(replace(ServerConfig(), **config), environ or {})  # type: ignore[arg-type]


CSRF = {"x-gitflows-request": "1"}


# -- header parsing: properties ---------------------------------------------------------------
TOKEN68 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/",
                  min_size=1).map(lambda t: t + "=")


@given(st.text())
def test_parsing_never_raises(header: str) -> None:
    parse_authorization(header)
    bearer_token(header)
    basic_pair(header)


@given(TOKEN68, st.sampled_from(["Bearer", "bearer", "BEARER", "BeArEr"]), st.text(" ", max_size=3))
def test_bearer_round_trips_whatever_the_scheme_case(token: str, scheme: str, pad: str) -> None:
    assert bearer_token(f"{pad}{scheme} {pad}{token}{pad}") == token
    assert basic_pair(f"{scheme} {token}") is None


@given(st.text().filter(lambda u: ":" not in u), st.text())
def test_basic_round_trips_any_user_and_password(user: str, password: str) -> None:
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8", "surrogatepass"))\
        .decode()
    try:
        f"{user}:{password}".encode()
    except UnicodeEncodeError:
        assert basic_pair(header) is None  # lone surrogates are no UTF-8
        return
    assert basic_pair(header) == (user, password)
    assert bearer_token(header) is None


@given(st.binary())
def test_basic_of_arbitrary_bytes_is_a_pair_or_none(raw: bytes) -> None:
    pair = basic_pair("Basic " + base64.b64encode(raw).decode())
    if pair is not None:
        assert f"{pair[0]}:{pair[1]}".encode() == raw


def test_malformed_headers() -> None:
    for header in ("", "Bearer", "Bearer ", "Bearer a b", "Be@rer x", "Basic !!!", "Basic " +
                   base64.b64encode(b"no-colon").decode(), "Basic " + base64.b64encode(b"\xff:x")
                   .decode()):
        assert bearer_token(header) is None and basic_pair(header) is None, header


# -- authentication -------------------------------------------------------------------------
def test_no_auth_on_loopback_lets_reads_through_and_browsers_need_the_csrf_header_to_write() -> None:
    check = gate().check
    assert check("GET", "/api/v1/flows", {}, LOCAL) is None
    own = {"origin": "http://127.0.0.1:8080"}
    for browser in (own, {"sec-fetch-site": "cross-site"}, {"sec-fetch-mode": "navigate"},
                    {"origin": "null"}):
        denied = check("POST", "/api/v1/executions/demo/hello", browser, LOCAL)
        assert denied is not None and denied.status == 403, browser
    denied = check("POST", "/api/v1/executions/demo/hello", own, LOCAL)
    assert denied is not None and "X-Gitflows-Request" in denied.message
    assert check("POST", "/api/v1/executions/demo/hello", {**own, **CSRF}, LOCAL) is None
    for method in ("PUT", "DELETE", "PATCH"):
        assert check(method, "/api/v1/flows/demo/hello", own, LOCAL) is not None
    # curl, scripts and Kestra API clients send no browser headers: nothing to forge
    assert check("POST", "/api/v1/executions/demo/hello", {}, LOCAL) is None


def test_token_auth_everything_but_webhooks_and_healthz() -> None:
    check = gate({"GITFLOWS_UI_TOKEN": TOKEN}).check
    for path in ("/", "/ui/static/app.js", "/api/v1/flows", "/api/v1/executions/x/follow",
                 "/metrics"):
        denied = check("GET", path, {}, LOCAL)
        assert denied is not None and denied.status == 401, path
        assert denied.headers["WWW-Authenticate"].startswith("Basic")
        assert check("GET", path, {"authorization": f"Bearer {TOKEN}"}, LOCAL) is None
        assert check("GET", path, {"authorization": "Bearer wrong"}, LOCAL) is not None
    for path in ("/healthz", "/hooks/github", "/api/v1/executions/webhook/demo/hello/key"):
        assert check("POST", path, {}, LOCAL) is None, path
    # the browser's login prompt: any user, the token as password; GETs only need that
    assert check("GET", "/", {"authorization": basic("me", TOKEN)}, LOCAL) is None
    assert check("GET", "/", {"authorization": basic("me", "nope")}, LOCAL) is not None


def test_basic_auth_user_and_password() -> None:
    environ = {"GITFLOWS_UI_PASSWORD": "s3cret", "GITFLOWS_UI_USER": "ada"}
    check = gate(environ).check
    assert check("GET", "/", {"authorization": basic("ada", "s3cret")}, LOCAL) is None
    for wrong in (basic("ada", "s3cre"), basic("bob", "s3cret"), basic("ada", "s3cret "),
                  "Bearer s3cret"):
        assert check("GET", "/", {"authorization": wrong}, LOCAL) is not None, wrong
    # named variables in the config
    custom = gate({"MY_PW": "pw", "MY_TOKEN": "tok"},
                  ui_auth=UiAuth(token_env="MY_TOKEN", user="ops", password_env="MY_PW")).check
    assert custom("GET", "/", {"authorization": basic("ops", "pw")}, LOCAL) is None
    assert custom("GET", "/", {"authorization": "Bearer tok"}, LOCAL) is None


def test_credentials_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every secret comparison goes through hmac.compare_digest, user and password both even
    when the user is already wrong (no early exit that times which part was right)."""
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    environ = {"GITFLOWS_UI_PASSWORD": "s3cret", "GITFLOWS_UI_USER": "ada", "GITFLOWS_UI_TOKEN": TOKEN}
    check = gate(environ).check
    assert check("GET", "/", {"authorization": basic("bob", "guess")}, LOCAL) is not None
    assert (b"bob", b"ada") in seen and (b"guess", b"s3cret") in seen and (b"guess", TOKEN.encode()) in seen
    seen.clear()
    assert check("GET", "/", {"authorization": "Bearer guess"}, LOCAL) is not None
    assert seen == [(b"guess", TOKEN.encode())]


# -- CSRF ---------------------------------------------------------------------------------
def test_csrf_with_auth_bearer_counts_basic_does_not() -> None:
    check = gate({"GITFLOWS_UI_TOKEN": TOKEN}).check
    path = "/api/v1/executions/demo/hello"
    assert check("POST", path, {"authorization": f"Bearer {TOKEN}"}, LOCAL) is None
    browser = {"authorization": basic("me", TOKEN), "origin": "http://127.0.0.1:8080"}
    denied = check("POST", path, browser, LOCAL)
    assert denied is not None and denied.status == 403  # the browser sends basic on its own
    assert check("POST", path, {**browser, **CSRF}, LOCAL) is None
    assert check("POST", path, {"authorization": basic("me", TOKEN)}, LOCAL) is None  # curl -u


def test_foreign_origin_is_refused_own_origin_accepted() -> None:
    check = gate(public_url="https://ci.example.org").check
    path = "/api/v1/flows"
    assert check("POST", path, {**CSRF, "origin": "http://127.0.0.1:8080"}, LOCAL) is None
    assert check("POST", path, {**CSRF, "origin": "https://ci.example.org"}, LOCAL) is None
    # (the scheme is not compared with the Host: behind a TLS proxy the server sees http)
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "null", "file://", "http://ci.example.org"):
        denied = check("POST", path, {**CSRF, "origin": origin}, LOCAL)
        assert denied is not None and denied.status == 403, origin
    # default ports: an Origin without the port matches a Host with it
    behind = gate({"GITFLOWS_UI_TOKEN": TOKEN}).check
    bearer = {"authorization": f"Bearer {TOKEN}"}
    assert behind("POST", path, {**bearer, "origin": "https://ci.example.org"}, "ci.example.org:443") is None
    assert behind("POST", path, {**bearer, "origin": "https://evil.example"}, "ci.example.org") is not None


# -- exposure and hosts ---------------------------------------------------------------------
def test_listening_beyond_loopback_needs_auth_or_the_explicit_flag() -> None:
    with pytest.raises(UsageError, match=r"refusing to listen on 0\.0\.0\.0 without authentication"):
        gate(host="0.0.0.0")
    gate({"GITFLOWS_UI_TOKEN": TOKEN}, host="0.0.0.0")
    gate(host="0.0.0.0", insecure_no_auth=True)
    for host in ("127.0.0.1", "::1", "localhost", "127.1.2.3"):
        gate(host=host)


def test_without_auth_the_host_must_be_loopback_against_dns_rebinding() -> None:
    check = gate().check
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "app.localhost:1"):
        assert check("GET", "/api/v1/flows", {}, host) is None, host
    denied = check("GET", "/api/v1/flows", {}, "rebind.evil.example:8080")
    assert denied is not None and denied.status == 403
    assert check("POST", "/hooks/github", {}, "tunnel.example") is None  # webhooks come via tunnels
    assert gate(public_url="https://ci.example.org").check("GET", "/", {}, "ci.example.org") is None
    # with auth (or the explicit flag) any host name will do
    assert gate({"GITFLOWS_UI_TOKEN": TOKEN}).check(
        "GET", "/", {"authorization": f"Bearer {TOKEN}"}, "myhost:8080") is None
    assert gate(host="0.0.0.0", insecure_no_auth=True).check("GET", "/", {}, "myhost:8080") is None


def test_is_loopback() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]:80", "localhost:1", "127.9.9.9"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.org", "::", "[::]:8080"))


def test_config_keys(tmp_path: Path) -> None:
    path = tmp_path / "serve.yml"
    path.write_text("host: 0.0.0.0\nui_auth:\n  token_env: MY_TOKEN\n  user: ops\n"
                    "ui_author: Bot <bot@example.org>\ninsecure_no_auth: true\n")
    config = load_config(path)
    assert config.ui_auth == UiAuth(token_env="MY_TOKEN", user="ops")
    assert config.ui_author == "Bot <bot@example.org>" and config.insecure_no_auth
    path.write_text("ui_auth:\n  token: inline-secret\n")
    with pytest.raises(UsageError, match="ui_auth takes password_env, token_env, user"):
        load_config(path)
    path.write_text("ui_author: just a name\n")
    with pytest.raises(UsageError, match="not an identity"):
        load_config(path)
