"""Signature and token checks: exact cases, then properties over random bodies, secrets and
header values (hypothesis). Security by default: no secret configured means refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.forges import PROVIDERS, generic, gitea, github, gitlab
from runner.forges.base import Provider
from runner.forges.event import Ignored, Ping, PullRequest, Push

SECRET = b"s3cr3t-of-octo/hello"
OTHER_REPO_SECRET = b"s3cr3t-of-octo/world"
BODY = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()


def sha256_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign(provider: str, secret: bytes, body: bytes) -> dict[str, str]:
    """The authentication headers each provider sends."""
    if provider == "github":
        return {"X-Hub-Signature-256": "sha256=" + sha256_hex(secret, body)}
    if provider == "gitea":
        return {"X-Gitea-Signature": sha256_hex(secret, body)}
    if provider == "gitlab":
        return {"X-Gitlab-Token": secret.decode("latin-1")}
    return {"X-Signature-256": "sha256=" + sha256_hex(secret, body)}


SIGNATURE_HEADER = {"github": "X-Hub-Signature-256", "gitea": "X-Gitea-Signature",
                    "gitlab": "X-Gitlab-Token", "generic": "X-Signature-256"}
HMAC_PROVIDERS = ("github", "gitea", "generic")


# -- exact cases ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_valid_passes_and_no_secret_refuses(name: str) -> None:
    provider = PROVIDERS[name]
    headers = sign(name, SECRET, BODY)
    assert provider.verify(headers, BODY, SECRET) is True
    assert provider.verify({k.lower(): v for k, v in headers.items()}, BODY, SECRET)  # any case
    assert provider.verify(headers, BODY, None) is False  # no secret configured: refused
    assert provider.verify(headers, BODY, b"") is False  # an empty secret is no secret
    assert provider.verify({}, BODY, None, allow_unsigned=True) is True  # explicitly unsigned
    assert provider.verify({}, BODY, SECRET, allow_unsigned=True) is False  # a secret always counts
    assert provider.verify(headers, BODY, OTHER_REPO_SECRET) is False  # another repository's secret
    assert provider.verify({}, BODY, SECRET) is False  # missing


GOOD = sha256_hex(SECRET, BODY)


@pytest.mark.parametrize(("value", "why"), [
    ("sha256=" + GOOD[:-1], "truncated"),
    ("sha256=" + GOOD[:32], "half"),
    ("sha256=", "empty digest"),
    ("", "empty header"),
    (GOOD, "bare hex, without the sha256= prefix"),
    ("sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest(), "other algorithm (sha1=)"),
    ("sha512=" + hmac.new(SECRET, BODY, hashlib.sha512).hexdigest(), "other algorithm (sha512=)"),
    ("sha256=" + GOOD.upper(), "upper-case hex (GitHub sends lower case)"),
    ("sha256=" + "z" * 64, "non-hex"),
    ("sha256=" + GOOD + "00", "trailing bytes"),
    ("sha256=" + sha256_hex(OTHER_REPO_SECRET, BODY), "another repository's secret"),
    ("sha256=" + sha256_hex(SECRET, BODY + b"\n"), "signature of another body"),
    ("sha256=" + GOOD + "é", "non-ASCII"),
    (" sha256=" + GOOD, "leading space"),
])
def test_github_rejects(value: str, why: str) -> None:
    assert github.PROVIDER.verify({"X-Hub-Signature-256": value}, BODY, SECRET) is False, why


def test_github_ignores_the_legacy_sha1_header() -> None:
    legacy = {"X-Hub-Signature": "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()}
    assert github.PROVIDER.verify(legacy, BODY, SECRET) is False


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X-Gitea-Signature": GOOD}, True),
    ({"X-Forgejo-Signature": GOOD}, True),
    ({"X-Forgejo-Signature": GOOD, "X-Gitea-Signature": GOOD}, True),
    ({"X-Forgejo-Signature": GOOD, "X-Gitea-Signature": "0" * 64}, False),  # every one present must match
    ({"X-Gitea-Signature": ""}, False),  # what Gitea sends when its side has no secret
    ({"X-Gitea-Signature": "sha256=" + GOOD}, False),  # Gitea's is bare hex
    ({"X-Gitea-Signature": GOOD.upper()}, False),
    ({"X-Gitea-Signature": GOOD[:-2]}, False),
    ({"X-Hub-Signature-256": "sha256=" + GOOD}, False),  # only the Gitea headers count here
    ({"X-Gogs-Signature": GOOD}, False),
])
def test_gitea_signatures(headers: dict[str, str], expected: bool) -> None:
    assert gitea.PROVIDER.verify(headers, BODY, SECRET) is expected


@pytest.mark.parametrize(("token", "expected"), [
    (SECRET.decode(), True),
    (SECRET.decode()[:-1], False),  # a prefix
    (SECRET.decode() + "x", False),
    (SECRET.decode().upper(), False),
    ("", False),
    (OTHER_REPO_SECRET.decode(), False),
    (" " + SECRET.decode(), False),
])
def test_gitlab_tokens(token: str, expected: bool) -> None:
    assert gitlab.PROVIDER.verify({"X-Gitlab-Token": token}, BODY, SECRET) is expected


def test_gitlab_non_ascii_token() -> None:
    secret = "clé-secrète".encode()
    wsgi_value = secret.decode("latin-1")  # how a WSGI server hands the header over
    assert gitlab.PROVIDER.verify({"X-Gitlab-Token": wsgi_value}, BODY, secret)
    assert gitlab.PROVIDER.verify({"X-Gitlab-Token": "clé-secrète"}, BODY, secret)  # decoded text
    assert not gitlab.PROVIDER.verify({"X-Gitlab-Token": "cle-secrete"}, BODY, secret)


def test_generic_accepts_either_header_but_all_present_must_match() -> None:
    good = "sha256=" + GOOD
    assert generic.PROVIDER.verify({"X-Hub-Signature-256": good}, BODY, SECRET)
    assert generic.PROVIDER.verify({"X-Signature-256": good, "X-Hub-Signature-256": good}, BODY, SECRET)
    assert not generic.PROVIDER.verify({"X-Signature-256": good, "X-Hub-Signature-256": "x"}, BODY, SECRET)


# -- properties -----------------------------------------------------------------------------

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
secrets = st.binary(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)


def _flip(data: bytes, index: int, delta: int) -> bytes:
    """`data` with one byte changed (delta in 1..255, so it really changes)."""
    i = index % len(data)
    return data[:i] + bytes([(data[i] + delta) % 256]) + data[i + 1:]


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@SETTINGS
@given(secret=secrets, body=bodies)
def test_sign_then_verify(name: str, secret: bytes, body: bytes) -> None:
    assert PROVIDERS[name].verify(sign(name, secret, body), body, secret) is True


@pytest.mark.parametrize("name", HMAC_PROVIDERS)
@SETTINGS
@given(secret=secrets, body=st.binary(min_size=1, max_size=2048), index=st.integers(min_value=0),
       delta=st.integers(min_value=1, max_value=255))
def test_any_changed_body_byte_fails(name: str, secret: bytes, body: bytes, index: int, delta: int) -> None:
    headers = sign(name, secret, body)
    assert PROVIDERS[name].verify(headers, _flip(body, index, delta), secret) is False


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@SETTINGS
@given(secret=secrets, body=bodies, index=st.integers(min_value=0),
       delta=st.integers(min_value=1, max_value=255))
def test_any_changed_signature_byte_fails(name: str, secret: bytes, body: bytes, index: int,
                                          delta: int) -> None:
    header = SIGNATURE_HEADER[name]
    value = sign(name, secret, body)[header].encode("latin-1")
    changed = _flip(value, index, delta).decode("latin-1")
    assert PROVIDERS[name].verify({header: changed}, body, secret) is False


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@SETTINGS
@given(secret=st.one_of(st.none(), st.binary(max_size=64)), body=bodies,
       values=st.lists(st.text(max_size=300), min_size=1, max_size=6),
       extra=st.dictionaries(st.text(max_size=30), st.text(max_size=100), max_size=5),
       unsigned=st.booleans())
def test_verify_never_raises(name: str, secret: bytes | None, body: bytes, values: list[str],
                             extra: dict[str, str], unsigned: bool) -> None:
    """Arbitrary values (any unicode, surrogates included) in every header a provider reads."""
    read = ["X-Hub-Signature-256", "X-Gitea-Signature", "X-Forgejo-Signature", "X-Gitlab-Token",
            "X-Signature-256", "Content-Type"]
    headers = {**extra, **{h: values[i % len(values)] for i, h in enumerate(read)}}
    result = PROVIDERS[name].verify(headers, body, secret, allow_unsigned=unsigned)
    assert isinstance(result, bool)
    if not secret:
        assert result is unsigned


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                       max_size=4),
    max_leaves=20)
KEYS = ["ref", "before", "after", "repository", "full_name", "pull_request", "head", "base", "repo",
        "sha", "number", "action", "commits", "head_commit", "object_kind", "project",
        "path_with_namespace", "object_attributes", "iid", "last_commit", "id", "kind"]
payload_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["refs/heads/x", "0" * 40, "opened", "a/b"]),
    lambda children: (st.dictionaries(st.sampled_from(KEYS), children, max_size=6)
                      | st.lists(children, max_size=3)),
    max_leaves=30)
EVENT_HEADERS: dict[str, Callable[[str], dict[str, str]]] = {
    "github": lambda e: {"X-GitHub-Event": e},
    "gitea": lambda e: {"X-Gitea-Event": e},
    "gitlab": lambda e: {"X-Gitlab-Event": e},
    "generic": lambda e: {"X-Event": e},
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@SETTINGS
@given(payload=st.one_of(payload_like, json_values), event=st.sampled_from(
    ["push", "pull_request", "ping", "Push Hook", "Merge Request Hook", "Tag Push Hook", "", "issues"]),
    garbage=st.binary(max_size=64), raw=st.booleans())
def test_normalise_never_raises(name: str, payload: object, event: str, garbage: bytes, raw: bool) -> None:
    provider: Provider = PROVIDERS[name]
    body = garbage if raw else json.dumps(payload).encode()
    result = provider.normalise(EVENT_HEADERS[name](event), body)
    assert isinstance(result, Ignored | Push | PullRequest | Ping)
    assert isinstance(provider.delivery_id({}, body), str)
