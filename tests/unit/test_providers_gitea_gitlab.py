"""Gitea/Forgejo and GitLab deliveries (sample payloads in tests/fixtures/webhooks), and
provider detection: Gitea sends GitHub's headers too, so it must be recognised first."""

from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

import pytest

from runner import forges as providers
from runner.forges import gitea, github, gitlab
from runner.forges.base import hmac_sha256_hex
from runner.forges.event import Ignored, PullRequest, Push, event_from_dict
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "webhooks"
SECRET = b"gitea and gitlab secret"


def load(name: str) -> tuple[dict[str, str], bytes]:
    """A sample delivery: its headers and its body as sent."""
    body = (FIXTURES / f"{name}.json").read_bytes()
    headers: dict[str, str] = {}
    for line in (FIXTURES / f"{name}.headers").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        headers[key.strip()] = value.strip()
    return headers, body


def gitea_signed(name: str, secret: bytes = SECRET) -> tuple[dict[str, str], bytes]:
    headers, body = load(name)
    signature = hmac_sha256_hex(secret, body)
    headers.update({"X-Gitea-Signature": signature, "X-Gogs-Signature": signature,
                    "X-Hub-Signature": "sha1=0000", "X-Hub-Signature-256": "sha256=" + signature})
    return headers, body


def gitlab_signed(name: str, token: bytes = SECRET) -> tuple[dict[str, str], bytes]:
    headers, body = load(name)
    headers["X-Gitlab-Token"] = token.decode("latin-1")
    return headers, body


def payload_of(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data


def roundtrip(event: Any) -> None:
    assert event_from_dict(json.loads(json.dumps(event.as_dict()))) == event


# -- Gitea ----------------------------------------------------------------------------------

def test_gitea_push() -> None:
    headers, body = gitea_signed("gitea/push")
    assert providers.detect(headers) is gitea.PROVIDER
    assert gitea.PROVIDER.verify(headers, body, SECRET)
    event = gitea.PROVIDER.normalise(headers, body)
    assert isinstance(event, Push)
    assert (event.provider, event.delivery_id) == ("gitea", "f6266f16-1bf3-46a5-9ea4-602e06ead473")
    assert (event.repo, event.ref) == ("acme/pipelines", "refs/heads/main")
    assert (event.branch, event.tag) == ("main", None)
    assert (event.created, event.deleted, event.forced) == (False, False, False)
    assert event.before == "28e1879d029cb852e4844d9c718537df08844e03"
    assert event.after == "9f0e1d2c3b4a59687766554433221100ffeeddcc"
    assert event.pusher == "alice"
    assert event.head_commit_message == "flows: run backup at 02:00 [skip ci]\n"
    assert event.changed_paths == (".flows/backup.yml", "README.md", "old/cron.sh")
    roundtrip(event)


def test_gitea_new_and_deleted_branches_from_zero_shas() -> None:
    headers, body = load("gitea/push")
    payload = payload_of(body)
    payload.update(ref="refs/heads/feature", before="0" * 40)
    created = gitea.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(created, Push) and created.created and not created.deleted
    payload.update(before=payload["after"], after="0" * 64, head_commit=None, commits=[])  # SHA-256 repo
    deleted = gitea.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(deleted, Push) and deleted.deleted and not deleted.created
    assert deleted.head_commit_message is None and deleted.changed_paths == ()


def test_gitea_pull_request_from_a_fork() -> None:
    headers, body = gitea_signed("gitea/pull_request-opened-fork")
    event = gitea.PROVIDER.normalise(headers, body)
    assert isinstance(event, PullRequest)
    assert (event.repo, event.action, event.number) == ("acme/pipelines", "opened", 12)
    assert (event.base_ref, event.base_sha) == ("main", "9f0e1d2c3b4a59687766554433221100ffeeddcc")
    assert (event.head_ref, event.head_sha) == ("retry-upload", "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f")
    assert (event.head_repo, event.fork, event.merged) == ("bob/pipelines", True, False)
    assert (event.title, event.author, event.sender) == ("Retry the upload step twice", "bob", "bob")
    roundtrip(event)


def test_gitea_synchronized_is_synchronize() -> None:
    headers, body = gitea_signed("gitea/pull_request-synchronized")
    assert headers["X-Gitea-Event-Type"] == "pull_request_sync"
    event = gitea.PROVIDER.normalise(headers, body)
    assert isinstance(event, PullRequest)
    assert (event.action, event.head_sha) == ("synchronize", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678")


def test_gitea_merged_pull_request() -> None:
    headers, body = gitea_signed("gitea/pull_request-closed-merged")
    event = gitea.PROVIDER.normalise(headers, body)
    assert isinstance(event, PullRequest)
    assert (event.action, event.merged, event.sender, event.author) == ("closed", True, "alice", "bob")


def test_forgejo_headers() -> None:
    headers, body = load("gitea/push")
    forgejo = {k.replace("Gitea", "Forgejo"): v for k, v in headers.items() if "Gogs" not in k}
    forgejo["X-Forgejo-Delivery"] = "forgejo-delivery-1"
    forgejo["X-Forgejo-Signature"] = hmac_sha256_hex(SECRET, body)
    assert providers.detect(forgejo) is gitea.PROVIDER
    assert providers.get("forgejo") is gitea.PROVIDER
    assert gitea.PROVIDER.verify(forgejo, body, SECRET)
    assert gitea.PROVIDER.delivery_id(forgejo, body) == "forgejo-delivery-1"
    assert isinstance(gitea.PROVIDER.normalise(forgejo, body), Push)


def test_gitea_form_deliveries_are_signed_over_the_json() -> None:
    """Gitea signs the JSON payload, then posts it as a `payload=` form field."""
    headers, json_body = load("gitea/pull_request-opened-fork")
    form = urllib.parse.urlencode({"payload": json_body.decode()}).encode()
    headers.update({"Content-Type": "application/x-www-form-urlencoded",
                    "X-Gitea-Signature": hmac_sha256_hex(SECRET, json_body)})
    assert gitea.PROVIDER.verify(headers, form, SECRET)
    assert gitea.PROVIDER.normalise(headers, form) == gitea.PROVIDER.normalise(
        {**headers, "Content-Type": "application/json"}, json_body)
    headers["X-Gitea-Signature"] = hmac_sha256_hex(b"other", json_body)
    assert not gitea.PROVIDER.verify(headers, form, SECRET)


@pytest.mark.parametrize(("event", "reason"), [("issues", "Gitea event 'issues' is not handled"),
                                               ("create", "Gitea event 'create' is not handled"),
                                               ("", "no X-Gitea-Event header")])
def test_gitea_other_events_are_ignored(event: str, reason: str) -> None:
    result = gitea.PROVIDER.normalise({"X-Gitea-Event": event}, b"{}")
    assert isinstance(result, Ignored) and result.reason == reason


# -- detection precedence -------------------------------------------------------------------

def test_a_gitea_delivery_is_verified_by_the_gitea_rule() -> None:
    """It carries X-Gitea-Signature and X-Hub-Signature-256 (and X-GitHub-Event): the Gitea
    signature decides, wherever it is posted."""
    headers, body = gitea_signed("gitea/push")
    assert github.PROVIDER.matches(headers) and gitea.PROVIDER.matches(headers)
    assert providers.detect(headers) is gitea.PROVIDER
    assert providers.resolve("github", headers) is gitea.PROVIDER

    good_gitea_bad_hub = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert providers.detect(good_gitea_bad_hub).verify(good_gitea_bad_hub, body, SECRET)  # type: ignore[union-attr]

    bad_gitea_good_hub = {**headers, "X-Gitea-Signature": hmac_sha256_hex(b"wrong", body)}
    assert bad_gitea_good_hub["X-Hub-Signature-256"] == "sha256=" + hmac_sha256_hex(SECRET, body)
    detected = providers.detect(bad_gitea_good_hub)
    assert detected is gitea.PROVIDER
    assert not detected.verify(bad_gitea_good_hub, body, SECRET)


def test_detection() -> None:
    assert providers.detect({"X-GitHub-Event": "push"}) is github.PROVIDER
    assert providers.detect({"x-gitlab-event": "Push Hook"}) is gitlab.PROVIDER
    assert providers.detect({"X-Gitea-Event": "push", "X-GitHub-Event": "push"}) is gitea.PROVIDER
    assert providers.detect({"Content-Type": "application/json"}) is None
    assert providers.resolve("gitlab", {"X-Gitea-Event": "push"}) is gitlab.PROVIDER
    assert providers.resolve("bitbucket", {}) is None


# -- GitLab ---------------------------------------------------------------------------------

def test_gitlab_push() -> None:
    headers, body = gitlab_signed("gitlab/push")
    assert providers.detect(headers) is gitlab.PROVIDER
    assert gitlab.PROVIDER.verify(headers, body, SECRET)
    event = gitlab.PROVIDER.normalise(headers, body)
    assert isinstance(event, Push)
    assert (event.repo, event.ref, event.branch) == ("platform/infra/deploy-flows", "refs/heads/main", "main")
    assert (event.before, event.after) == ("95790bf891e76fee5e1747ab589903a6a1f80f22",
                                           "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
    assert (event.created, event.deleted, event.pusher) == (False, False, "jsmith")
    assert event.head_commit_message == "Use the shared retry policy\n\nFixes #41.\n"
    assert event.changed_paths == (".flows/deploy-staging.yml", "flows/lib.py", "flows/old.py")
    roundtrip(event)


def test_gitlab_tag_push() -> None:
    headers, body = gitlab_signed("gitlab/tag_push")
    event = gitlab.PROVIDER.normalise(headers, body)
    assert isinstance(event, Push)
    assert (event.ref, event.branch, event.tag, event.created) == ("refs/tags/v1.4.0", None, "v1.4.0", True)


def test_gitlab_branch_deletion() -> None:
    headers, body = load("gitlab/push")
    payload = payload_of(body)
    payload.update(before=payload["after"], after="0" * 40, checkout_sha=None, commits=[],
                   total_commits_count=0)
    event = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(event, Push) and event.deleted and event.head_commit_message is None


def test_gitlab_merge_request_from_a_fork() -> None:
    headers, body = gitlab_signed("gitlab/merge_request-open-fork")
    event = gitlab.PROVIDER.normalise(headers, body)
    assert isinstance(event, PullRequest)
    assert (event.repo, event.action, event.number) == ("platform/infra/deploy-flows", "opened", 7)
    assert (event.base_ref, event.base_sha) == ("main", None)
    assert (event.head_ref, event.head_sha) == ("pin-image", "2f1e3c4d5b6a79887766554433221100aabbccdd")
    assert (event.head_repo, event.fork, event.merged) == ("jsmith/deploy-flows", True, False)
    assert (event.title, event.author, event.sender, event.draft) == (
        "Pin the deploy image", "jsmith", "jsmith", False)
    roundtrip(event)


def test_gitlab_update_with_new_commits_is_synchronize() -> None:
    headers, body = gitlab_signed("gitlab/merge_request-update-commits")
    event = gitlab.PROVIDER.normalise(headers, body)
    assert isinstance(event, PullRequest)
    assert (event.action, event.head_sha) == ("synchronize", "7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f901")
    assert event.author is None and event.sender == "jsmith"
    payload = payload_of(body)
    del payload["object_attributes"]["oldrev"]  # an update without new commits: a title change
    edited = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(edited, PullRequest) and edited.action == "edited"


def test_gitlab_merge() -> None:
    headers, body = gitlab_signed("gitlab/merge_request-merge")
    event = gitlab.PROVIDER.normalise(headers, body)
    assert isinstance(event, PullRequest)
    assert (event.action, event.merged, event.sender) == ("closed", True, "root")
    payload = payload_of(body)
    payload["object_attributes"].update(action="close", state="closed")
    closed = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(closed, PullRequest) and (closed.action, closed.merged) == ("closed", False)
    payload["object_attributes"].update(action="reopen", state="opened")
    reopened = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(reopened, PullRequest) and reopened.action == "reopened"
    payload["object_attributes"]["action"] = "approved"
    approved = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(approved, PullRequest) and approved.action == "approved"


def test_gitlab_same_project_and_deleted_source() -> None:
    headers, body = load("gitlab/merge_request-open-fork")
    payload = payload_of(body)
    attrs = payload["object_attributes"]
    attrs["source_project_id"] = attrs["target_project_id"]
    attrs["source"] = copy.deepcopy(attrs["target"])
    same = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(same, PullRequest) and not same.fork
    attrs["source"] = None
    gone = gitlab.PROVIDER.normalise(headers, json.dumps(payload).encode())
    assert isinstance(gone, PullRequest) and gone.fork and gone.head_repo is None


def test_gitlab_system_hook_and_other_events() -> None:
    headers, body = load("gitlab/push")
    system = {**headers, "X-Gitlab-Event": "System Hook"}
    assert isinstance(gitlab.PROVIDER.normalise(system, body), Push)
    note = gitlab.PROVIDER.normalise({"X-Gitlab-Event": "Note Hook"},
                                     b'{"object_kind": "note", "project": {"path_with_namespace": "a/b"}}')
    assert isinstance(note, Ignored) and note.reason == "GitLab event 'note' is not handled"
    orphan = gitlab.PROVIDER.normalise({"X-Gitlab-Event": "Push Hook"}, b'{"object_kind": "push"}')
    assert isinstance(orphan, Ignored) and "path_with_namespace" in orphan.reason


def test_gitlab_delivery_ids() -> None:
    headers, body = load("gitlab/merge_request-open-fork")
    # Idempotency-Key (GitLab 17.4+) is the same on every retry: it wins
    assert gitlab.PROVIDER.delivery_id(headers, body) == "5d2d4f7e-8c14-4a9b-9c2e-5a1f3b0d7c61"
    push_headers, push_body = load("gitlab/push")
    by_uuid = gitlab.PROVIDER.delivery_id(push_headers, push_body)
    assert by_uuid.startswith("6b29b8bb-3bd1-4b4c-9a4e-0e76d6ea7b11:")
    # one GitLab request pushing two branches: same event UUID, different bodies, two deliveries
    other = push_body.replace(b"refs/heads/main", b"refs/heads/next")
    assert gitlab.PROVIDER.delivery_id(push_headers, other) != by_uuid
    # a resend of the same delivery is the same delivery
    assert gitlab.PROVIDER.delivery_id(dict(push_headers), push_body) == by_uuid
    webhook_only = {k: v for k, v in push_headers.items() if k != "X-Gitlab-Event-UUID"}
    assert gitlab.PROVIDER.delivery_id(webhook_only, push_body).startswith("13bcd0a4-")
    assert gitlab.PROVIDER.delivery_id({}, push_body).startswith("sha256:")


def test_stored_headers_never_keep_secrets() -> None:
    for provider in providers.PROVIDERS.values():
        assert not any("signature" in h or "token" in h for h in provider.stored_headers), provider.name
        assert all(h == h.lower() for h in provider.stored_headers)


def test_fixtures_are_what_they_say() -> None:
    """Every sample delivery normalises to an event (none is silently ignored)."""
    for path in sorted(FIXTURES.glob("*/*.json")):
        name = f"{path.parent.name}/{path.stem}"
        headers, body = load(name)
        event = providers.PROVIDERS[path.parent.name].normalise(headers, body)
        assert not isinstance(event, Ignored), (name, event)
