"""GitHub deliveries, checked against GitHub's own example payloads and JSON Schemas
(@octokit/webhooks-examples and @octokit/webhooks-schemas, fetched by scripts/fetch-test-fixtures).

Under CI=true missing fixtures fail the tests; locally they are skipped with the command to run.
"""

from __future__ import annotations

import copy
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner.forges import github
from runner.forges.base import hmac_sha256_hex
from runner.forges.event import Ignored, Ping, PullRequest, Push, event_from_dict
from tests.conftest import REPO_ROOT

SECRET = b"It's a Secret to Everybody"
PROVIDER = github.PROVIDER
EVENTS = ("push", "pull_request", "ping")


def fixtures_dir() -> Path:
    return Path(os.environ.get("GITFLOWS_FIXTURES") or REPO_ROOT / ".cache" / "fixtures")


def _octokit() -> Path:
    return fixtures_dir() / "node_modules" / "@octokit"


def _examples_file() -> Path:
    return _octokit() / "webhooks-examples" / "api.github.com" / "index.json"


def _schema_file() -> Path:
    return _octokit() / "webhooks-schemas" / "schema.json"


def _missing(what: Path) -> None:
    message = (f"GitHub webhook fixtures not found ({what}); run scripts/fetch-test-fixtures "
               f"(it installs them under $GITFLOWS_FIXTURES, default .cache/fixtures)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: missing fixtures fail rather than skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def octokit_examples() -> dict[str, list[dict[str, Any]]]:
    """GitHub's example payloads by event name."""
    path = _examples_file()
    if not path.is_file():
        _missing(path)
    return {entry["name"]: entry["examples"] for entry in json.loads(path.read_text(encoding="utf-8"))}


@pytest.fixture(scope="session")
def octokit_schema() -> dict[str, Any]:
    path = _schema_file()
    if not path.is_file():
        _missing(path)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _example_ids() -> list[Any]:
    """(event, index) of every push / pull_request / ping example, read at collection time;
    one placeholder when the fixtures are missing, so the test reports it."""
    try:
        entries = json.loads(_examples_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [pytest.param(None, None, id="octokit-examples-missing")]
    params = []
    for entry in entries:
        if entry["name"] in EVENTS:
            for index, example in enumerate(entry["examples"]):
                action = example.get("action", "")
                params.append(pytest.param(entry["name"], index,
                                           id=f"{entry['name']}-{action}-{index}".replace("--", "-")))
    return params


def headers_for(event: str, body: bytes, delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                content_type: str = "application/json") -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": content_type,
            "User-Agent": "GitHub-Hookshot/044aadd", "X-GitHub-Hook-ID": "292430182",
            "X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(SECRET, body)}


def _validator(schema: dict[str, Any], definition: str) -> Any:
    root = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return jsonschema.validators.validator_for(schema)(root)


def _definition(event: str, payload: dict[str, Any]) -> str:
    return f"{event}$event" if event in ("push", "ping") else f"{event}${payload['action']}"


def check_matches_payload(event: Any, name: str, payload: dict[str, Any]) -> None:
    """The normalised event carries what the payload says."""
    if name == "push":
        assert isinstance(event, Push)
        assert event.repo == payload["repository"]["full_name"]
        assert (event.ref, event.before, event.after) == (payload["ref"], payload["before"], payload["after"])
        assert event.created is payload["created"] and event.deleted is payload["deleted"]
        assert event.forced is payload["forced"]
        if payload["ref"].startswith("refs/heads/"):
            assert (event.branch, event.tag) == (payload["ref"][len("refs/heads/"):], None)
        elif payload["ref"].startswith("refs/tags/"):
            assert (event.branch, event.tag) == (None, payload["ref"][len("refs/tags/"):])
        assert event.pusher == payload["pusher"]["name"]
        head = payload["head_commit"]
        assert event.head_commit_message == (head["message"] if head else None)
        files = {f for c in payload["commits"] for k in ("added", "removed", "modified") for f in c[k]}
        assert event.changed_paths == tuple(sorted(files))
    elif name == "pull_request":
        assert isinstance(event, PullRequest)
        pr = payload["pull_request"]
        assert event.repo == payload["repository"]["full_name"]
        assert event.action == payload["action"]
        assert event.number == payload["number"] == pr["number"]
        assert (event.base_ref, event.base_sha) == (pr["base"]["ref"], pr["base"]["sha"])
        assert (event.head_ref, event.head_sha) == (pr["head"]["ref"], pr["head"]["sha"])
        head_repo = pr["head"]["repo"]["full_name"] if pr["head"]["repo"] else None
        assert event.head_repo == head_repo
        assert event.fork is (head_repo != pr["base"]["repo"]["full_name"])
        assert event.merged is bool(pr["merged"])
        assert event.title == pr["title"] and event.author == pr["user"]["login"]
        assert event.sender == payload["sender"]["login"] and event.draft is pr["draft"]
    else:
        assert isinstance(event, Ping)
        assert event.repo == payload.get("repository", {}).get("full_name")
        assert (event.hook_id, event.zen) == (payload["hook_id"], payload["zen"])


@pytest.mark.parametrize(("name", "index"), _example_ids())
def test_every_github_example_verifies_and_normalises(
        name: str | None, index: int | None, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:
    assert name is not None and index is not None
    payload = octokit_examples[name][index]
    body = json.dumps(payload).encode("utf-8")
    headers = headers_for(name, body)
    assert PROVIDER.verify(headers, body, SECRET)
    assert PROVIDER.event_name(headers) == name
    assert PROVIDER.delivery_id(headers, body) == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    event = PROVIDER.normalise(headers, body)
    check_matches_payload(event, name, payload)
    assert not isinstance(event, Ignored)
    assert (event.provider, event.delivery_id) == ("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    # the event survives JSON and back
    assert event_from_dict(json.loads(json.dumps(event.as_dict()))) == event


@pytest.mark.parametrize("name", EVENTS)
def test_form_encoded_deliveries_normalise_like_json(
        name: str, octokit_examples: dict[str, list[dict[str, Any]]]) -> None:
    payload = octokit_examples[name][-1]
    as_json = json.dumps(payload).encode()
    form = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    form_headers = headers_for(name, form, content_type="application/x-www-form-urlencoded")
    assert PROVIDER.verify(form_headers, form, SECRET)  # GitHub signs the body as sent
    assert PROVIDER.normalise(form_headers, form) == PROVIDER.normalise(headers_for(name, as_json), as_json)


# Nullable fields normalisation reads: each is set to null, the payload re-validated
# against GitHub's schema (so the variant is one GitHub may really send), then normalised.
NULLABLE = {
    "push": [("head_commit",), ("pusher", "email"), ("base_ref",)],
    "pull_request": [("pull_request", "head", "repo"), ("pull_request", "merged"),
                     ("pull_request", "body"), ("pull_request", "merge_commit_sha")],
    "ping": [],
}


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@pytest.mark.parametrize("name", ["push", "pull_request"])
def test_schema_nullable_fields_normalise(name: str, octokit_examples: dict[str, list[dict[str, Any]]],
                                          octokit_schema: dict[str, Any]) -> None:
    tried = 0
    for payload in octokit_examples[name]:
        validator = _validator(octokit_schema, _definition(name, payload))
        if not validator.is_valid(payload):
            continue  # an example older than the schema
        for path in NULLABLE[name]:
            variant = copy.deepcopy(payload)
            _set(variant, path, None)
            if not validator.is_valid(variant):
                continue
            tried += 1
            body = json.dumps(variant).encode()
            event = PROVIDER.normalise(headers_for(name, body), body)
            check_matches_payload(event, name, variant)
    assert tried >= 10, "the schema should allow nulls in these fields"


def test_fork_pull_request_is_a_fork(octokit_examples: dict[str, list[dict[str, Any]]],
                                     octokit_schema: dict[str, Any]) -> None:
    payload = copy.deepcopy(next(p for p in octokit_examples["pull_request"] if p["action"] == "opened"
                                 and _validator(octokit_schema, "pull_request$opened").is_valid(p)))
    head = payload["pull_request"]["head"]
    head["repo"]["full_name"] = "forker/Hello-World"
    head["repo"]["owner"]["login"] = "forker"
    head["repo"]["fork"] = True
    head["label"] = "forker:changes"
    assert _validator(octokit_schema, "pull_request$opened").is_valid(payload)
    body = json.dumps(payload).encode()
    event = PROVIDER.normalise(headers_for("pull_request", body), body)
    assert isinstance(event, PullRequest)
    assert (event.fork, event.head_repo, event.repo) == (True, "forker/Hello-World", "Codertocat/Hello-World")
    # the fork deleted: no head repository, still a fork
    head["repo"] = None
    body = json.dumps(payload).encode()
    gone = PROVIDER.normalise(headers_for("pull_request", body), body)
    assert isinstance(gone, PullRequest) and gone.fork and gone.head_repo is None
    # same repository, different case: not a fork
    head["repo"] = copy.deepcopy(payload["pull_request"]["base"]["repo"])
    head["repo"]["full_name"] = "codertocat/hello-world"
    body = json.dumps(payload).encode()
    same = PROVIDER.normalise(headers_for("pull_request", body), body)
    assert isinstance(same, PullRequest) and not same.fork


def test_merged_pull_request(octokit_examples: dict[str, list[dict[str, Any]]],
                             octokit_schema: dict[str, Any]) -> None:
    payload = copy.deepcopy(next(p for p in octokit_examples["pull_request"] if p["action"] == "closed"))
    pr = payload["pull_request"]
    pr.update(merged=True, merged_at=pr["closed_at"], merged_by=copy.deepcopy(pr["user"]))
    assert _validator(octokit_schema, "pull_request$closed").is_valid(payload)
    body = json.dumps(payload).encode()
    event = PROVIDER.normalise(headers_for("pull_request", body), body)
    assert isinstance(event, PullRequest) and (event.action, event.merged) == ("closed", True)


def test_branch_deletion_push(octokit_examples: dict[str, list[dict[str, Any]]],
                              octokit_schema: dict[str, Any]) -> None:
    payload = copy.deepcopy(next(p for p in octokit_examples["push"] if p["deleted"]
                                 and _validator(octokit_schema, "push$event").is_valid(p)))
    payload["ref"] = "refs/heads/feature/x"
    assert _validator(octokit_schema, "push$event").is_valid(payload)
    body = json.dumps(payload).encode()
    event = PROVIDER.normalise(headers_for("push", body), body)
    assert isinstance(event, Push)
    assert (event.branch, event.tag, event.deleted, event.after) == ("feature/x", None, True, "0" * 40)
    assert event.head_commit_message is None


@pytest.mark.parametrize(("headers", "body", "reason"), [
    ({"X-GitHub-Event": "issues"}, b"{}", "GitHub event 'issues' is not handled"),
    ({"X-GitHub-Event": "check_run"}, b"{}", "GitHub event 'check_run' is not handled"),
    ({}, b"{}", "no X-GitHub-Event header"),
    ({"X-GitHub-Event": "push"}, b"not json", "the body is not JSON"),
    ({"X-GitHub-Event": "push"}, b"[1, 2]", "the body is not a JSON object"),
    ({"X-GitHub-Event": "push"}, b'{"ref": "refs/heads/main"}', "push payload without"),
    ({"X-GitHub-Event": "pull_request"}, b'{"action": "opened"}', "pull_request payload without"),
    ({"X-GitHub-Event": "pull_request"},
     b'{"action": "opened", "number": 1, "pull_request": {"head": {}}}', "pull_request payload without"),
])
def test_irrelevant_or_malformed_deliveries_are_ignored(headers: dict[str, str], body: bytes,
                                                        reason: str) -> None:
    result = PROVIDER.normalise(headers, body)
    assert isinstance(result, Ignored)
    assert result.reason.startswith(reason)


def test_other_pull_request_actions_pass_through(octokit_examples: dict[str, list[dict[str, Any]]]) -> None:
    actions = set()
    for payload in octokit_examples["pull_request"]:
        body = json.dumps(payload).encode()
        event = PROVIDER.normalise(headers_for("pull_request", body), body)
        assert isinstance(event, PullRequest)
        actions.add(event.action)
    assert {"opened", "synchronize", "reopened", "closed", "labeled", "ready_for_review"} <= actions


def test_missing_delivery_header_falls_back_to_the_body_hash() -> None:
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    first = PROVIDER.delivery_id({"X-GitHub-Event": "ping"}, body)
    assert first.startswith("sha256:") and first == PROVIDER.delivery_id({}, body)
    assert first != PROVIDER.delivery_id({}, body + b" ")
    long_id = "x" * 500
    assert PROVIDER.delivery_id({"X-GitHub-Delivery": long_id}, body).startswith("sha256:")
