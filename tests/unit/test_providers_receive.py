"""`providers.receive`: the webhook HTTP contract without a web framework (202 accepted
into the durable inbox, 401 bad signature, 400 not a payload, 413 too large, duplicates
acknowledged once), the secret lookup over the server configuration, the generic provider
and the Event model's JSON round trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import forges
from runner.forges.base import hmac_sha256_hex
from runner.forges.event import Ignored, Ping, PullRequest, Push, event_from_dict
from webhooks.config import RepoConfig
from webhooks.ingress import receive as providers
from webhooks.ingress.inbox import MAX_BODY, Inbox
from webhooks.ingress.receive import RepoSecret, config_secrets, receive

HELLO_SECRET = b"hello-secret"
WORLD_SECRET = b"world-secret"
SHA_A = "a" * 40
SHA_B = "b" * 40


def push_body(repo: str = "octo/hello", ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "before": SHA_A, "after": SHA_B, "created": False, "deleted": False,
                       "forced": False, "repository": {"full_name": repo},
                       "pusher": {"name": "octocat", "email": None}, "commits": [],
                       "head_commit": None}).encode()


def github_headers(body: bytes, secret: bytes, event: str = "push", delivery: str = "d-1") -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(secret, body)}


def lookup(provider: str, repo: str | None) -> RepoSecret:
    secrets = {("github", "octo/hello"): HELLO_SECRET, ("github", "octo/world"): WORLD_SECRET,
               ("gitea", "acme/pipelines"): HELLO_SECRET, ("gitlab", "group/app"): HELLO_SECRET}
    if (provider, repo) == ("generic", "plain/repo"):
        return RepoSecret(unsigned=True)
    return RepoSecret(secrets.get((provider, repo or "")))


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.db")
    yield box
    box.close()


def test_accepted_then_duplicate(inbox: Inbox) -> None:
    body = push_body()
    first = receive("github", github_headers(body, HELLO_SECRET), body, inbox, lookup)
    assert (first.status, first.stored, first.duplicate, first.provider) == (202, True, False, "github")
    assert isinstance(first.event, Push) and first.delivery_id == "d-1"
    assert first.body() == {"message": "accepted", "provider": "github", "delivery": "d-1",
                            "stored": True, "duplicate": False}
    again = receive("github", github_headers(body, HELLO_SECRET), body, inbox, lookup)
    assert (again.status, again.stored, again.duplicate) == (202, False, True)
    assert inbox.pending_count() == 1
    delivery = inbox.claim("w", 30)
    assert delivery is not None and delivery.body == body and delivery.provider == "github"
    # what is kept: the event and delivery headers, never the signature
    assert delivery.headers == {"x-github-event": "push", "x-github-delivery": "d-1",
                                "content-type": "application/json"}
    assert providers.normalise_delivery(delivery) == first.event


def test_headers_as_name_value_pairs(inbox: Inbox) -> None:
    """What a framework's header object yields (werkzeug's Headers is not a Mapping)."""
    body = push_body()
    pairs = list(github_headers(body, HELLO_SECRET).items())
    assert receive("github", pairs, body, inbox, lookup).status == 202


def test_bad_signatures_are_401_and_store_nothing(inbox: Inbox) -> None:
    body = push_body()
    for headers in (github_headers(body, b"wrong"), {"X-GitHub-Event": "push"},
                    github_headers(body + b" ", HELLO_SECRET)):
        reception = receive("github", headers, body, inbox, lookup)
        assert reception.status == 401 and reception.body() == {"message": "signature missing or invalid"}
    assert inbox.pending_count() == 0


def test_the_secret_of_another_repository_is_refused(inbox: Inbox) -> None:
    """A delivery claiming octo/hello, signed with octo/world's secret."""
    body = push_body("octo/hello")
    reception = receive("github", github_headers(body, WORLD_SECRET), body, inbox, lookup)
    assert reception.status == 401 and "signature does not match" in reception.detail
    world = push_body("octo/world")
    assert receive("github", github_headers(world, WORLD_SECRET), world, inbox, lookup).status == 202


def test_unknown_repository_or_no_secret_is_refused(inbox: Inbox) -> None:
    body = push_body("someone/else")
    reception = receive("github", github_headers(body, b""), body, inbox, lookup)
    assert reception.status == 401 and "no webhook secret configured" in reception.detail
    assert "someone/else" in reception.detail and "someone/else" not in reception.message


def test_verified_but_not_a_payload_is_400(inbox: Inbox) -> None:
    def unsigned(provider: str, repo: str | None) -> RepoSecret:
        return RepoSecret(HELLO_SECRET)

    body = b"this is not json"
    reception = receive("github", github_headers(body, HELLO_SECRET), body, inbox, unsigned)
    assert reception.status == 400 and "not JSON" in reception.message
    no_event = {k: v for k, v in github_headers(push_body(), HELLO_SECRET).items() if k != "X-GitHub-Event"}
    assert receive("github", no_event, push_body(), inbox, unsigned).status == 400
    # unverified garbage is a 401, not a 400: nothing is said about unauthenticated bodies
    assert receive("github", github_headers(body, b"x"), body, inbox, unsigned).status == 401
    assert inbox.pending_count() == 0


def test_too_large_is_413(inbox: Inbox) -> None:
    body = b" " * (MAX_BODY + 1)
    reception = receive("github", {"X-GitHub-Event": "push"}, body, inbox, lookup)
    assert reception.status == 413
    with pytest.raises(ValueError, match="MAX_BODY"):
        inbox.accept("github", "big", {}, body)


def test_unknown_provider_is_404(inbox: Inbox) -> None:
    assert receive("bitbucket", {}, b"{}", inbox, lookup).status == 404


def test_ignored_events_are_acknowledged_not_stored(inbox: Inbox) -> None:
    body = json.dumps({"action": "created", "repository": {"full_name": "octo/hello"}}).encode()
    reception = receive("github", github_headers(body, HELLO_SECRET, event="issue_comment"), body,
                        inbox, lookup)
    assert reception.status == 202 and not reception.stored
    assert isinstance(reception.event, Ignored)
    assert reception.body()["ignored"] == "GitHub event 'issue_comment' is not handled"
    assert inbox.pending_count() == 0


def test_a_gitea_delivery_posted_to_the_github_route(inbox: Inbox) -> None:
    body = json.dumps({"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B,
                       "repository": {"full_name": "acme/pipelines"}, "commits": []}).encode()
    signature = hmac_sha256_hex(HELLO_SECRET, body)
    headers = {"X-Gitea-Event": "push", "X-Gitea-Delivery": "g-1", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": "g-1", "X-Gitea-Signature": signature,
               "X-Hub-Signature-256": "sha256=" + "0" * 64}
    reception = receive("github", headers, body, inbox, lookup)
    assert (reception.status, reception.provider) == (202, "gitea")
    bad = {**headers, "X-Gitea-Signature": "0" * 64, "X-Hub-Signature-256": "sha256=" + signature}
    assert receive("github", {**bad, "X-Gitea-Delivery": "g-2"}, body, inbox, lookup).status == 401


def test_gitlab_route(inbox: Inbox) -> None:
    body = json.dumps({"object_kind": "push", "ref": "refs/heads/main", "before": SHA_A, "after": SHA_B,
                       "project": {"path_with_namespace": "group/app"}, "commits": []}).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": HELLO_SECRET.decode(),
               "X-Gitlab-Event-UUID": "u-1"}
    reception = receive("gitlab", headers, body, inbox, lookup)
    assert reception.status == 202 and reception.stored
    delivery = inbox.claim("w", 30)
    assert delivery is not None and "x-gitlab-token" not in delivery.headers
    assert receive("gitlab", {**headers, "X-Gitlab-Token": "nope"}, body, inbox, lookup).status == 401


def test_unsigned_only_when_configured(inbox: Inbox) -> None:
    body = json.dumps({"kind": "push", "repo": "plain/repo", "ref": "refs/heads/main",
                       "before": SHA_A, "after": SHA_B}).encode()
    reception = receive("generic", {"X-Delivery-Id": "post-receive-1"}, body, inbox, lookup)
    assert reception.status == 202 and reception.stored
    event = reception.event
    assert isinstance(event, Push)
    assert (event.provider, event.delivery_id, event.branch, event.created) == (
        "generic", "post-receive-1", "main", False)
    other = body.replace(b"plain/repo", b"plain/other")
    assert receive("generic", {}, other, inbox, lookup).status == 401


def test_config_secrets() -> None:
    repos = [RepoConfig("octo/hello", "/srv/hello", provider="github", webhook_secret_env="HELLO"),
             RepoConfig("group/app", "/srv/app", provider="gitlab", webhook_secret_env="APP"),
             RepoConfig("forge/x", "/srv/x", provider="forgejo", webhook_secret_env="X"),
             RepoConfig("plain/repo", "/srv/plain", provider="none"),
             RepoConfig("octo/nosecret", "/srv/n", provider="github", webhook_secret_env="UNSET")]
    secret_for = config_secrets(repos, {"HELLO": "h", "APP": "a", "X": "x"}, unsigned=["Plain/Repo"])
    assert secret_for("github", "octo/hello") == RepoSecret(b"h")
    assert secret_for("github", "OCTO/Hello") == RepoSecret(b"h")  # names compare case-insensitively
    assert secret_for("gitlab", "octo/hello") == RepoSecret()  # only for the repository's own provider
    assert secret_for("gitlab", "group/app") == RepoSecret(b"a")
    assert secret_for("gitea", "forge/x") == RepoSecret(b"x")
    assert secret_for("generic", "plain/repo") == RepoSecret(None, unsigned=True)
    assert secret_for("github", "octo/nosecret") == RepoSecret()  # env var unset: refused
    assert secret_for("github", "octo/unknown") == RepoSecret()
    assert secret_for("github", None) == RepoSecret()


# -- the Event model ------------------------------------------------------------------------

EVENTS: list[Any] = [
    Push("github", "d", "o/r", "refs/tags/v1", None, "v1", True, False, "0" * 40, SHA_B,
         changed_paths=("a", "b/c")),
    PullRequest("gitlab", "d", "g/p", "synchronize", 3, "main", None, "topic", SHA_B, None, True,
                merged=False, title="t", author=None, sender="s", draft=True),
    Ping("github", "d", None, 7, "zen"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_event_json_round_trip(event: Any) -> None:
    data = json.loads(json.dumps(event.as_dict()))
    assert data["kind"] == event.kind
    assert event_from_dict(data) == event
    assert forges.dumps(event) == json.dumps(event.as_dict(), sort_keys=True)


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "release"}, "unknown event kind"),
    ({"kind": "ping", "provider": "x", "delivery_id": "d", "repo": None, "colour": 1}, "unknown ping field"),
    ({"kind": "ping", "provider": "x", "delivery_id": "d"}, "ping:"),
    ({"kind": "ping", "provider": "x", "delivery_id": "d", "repo": 3}, "ping.repo must be"),
    ({"kind": "ping", "provider": "x", "delivery_id": "d", "repo": None, "hook_id": True}, "ping.hook_id"),
    ({"kind": "push", "provider": "x", "delivery_id": "d", "repo": "r", "ref": "r", "branch": None,
      "tag": None, "created": 1, "deleted": False, "before": "", "after": ""}, "push.created must be"),
    ({"kind": "push", "provider": "x", "delivery_id": "d", "repo": "r", "ref": "r", "branch": None,
      "tag": None, "created": True, "deleted": False, "before": "", "after": "", "changed_paths": [1]},
     "changed_paths"),
])
def test_event_from_dict_rejects(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event_from_dict(data)


def test_generic_ignores_what_is_not_an_event() -> None:
    generic = forges.get("generic")
    assert generic is not None
    result = generic.normalise({}, b'{"kind": "push", "repo": "a/b"}')
    assert isinstance(result, Ignored) and result.reason.startswith("not a gitflows event")
    assert isinstance(generic.normalise({}, b"[]"), Ignored)
