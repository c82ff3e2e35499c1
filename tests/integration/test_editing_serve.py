"""Saving, creating and deleting flows through a real `flows serve`: every change is a git
commit on a branch, compare-and-swap against the commit the editor loaded."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, run_cli

HELLO = """\
id: hello
namespace: demo
# a comment the UI must not lose
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "v1"   # trailing comment
"""

NEW = """\
id: fresh
namespace: demo.new
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=o", "-c", "user.email=o@example.invalid", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def api(base: str, method: str, path: str, body: Any = None,
        headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    sent = {"X-Gitflows-Request": "1", **({"Content-Type": "application/json"} if data else {}),
            **(headers or {})}
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@dataclass
class Served:
    base: str
    repo: Path


def _repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "hello.yml").write_text(HELLO)
    (repo / "README.txt").write_text("readme\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "init")
    return repo


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    repo = _repo(tmp_path)
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log")
    try:
        yield Served(server.base, repo)
    finally:
        server.stop()


def load(served: Served, ref: str = "") -> dict[str, Any]:
    status, source = api(served.base, "GET", "/api/v1/flows/demo/hello/source" + ref)
    assert status == 200, source
    return dict(source)


def test_save_is_a_commit_the_server_runs_and_validate_sees(served: Served) -> None:
    source = load(served)
    assert source["branch"] == "main" and source["branches"] == ["main"]
    assert source["commit"] == git(served.repo, "rev-parse", "main")
    text = source["source"].replace('"v1"', '"v2"')
    status, saved = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "base": source["commit"], "source": text, "message": "Bump to v2",
        "author": {"name": "Ada Lovelace", "email": "ada@example.org"}})
    assert status == 200, saved
    assert saved["commit"] == git(served.repo, "rev-parse", "main") != source["commit"]
    assert (saved["branch"], saved["file"], saved["repo"]) == ("main", ".flows/hello.yml", "repo")
    assert git(served.repo, "log", "-1", "--format=%an <%ae>|%cn|%s") == \
        "Ada Lovelace <ada@example.org>|gitflows UI|Bump to v2"
    committed = git(served.repo, "show", "main:.flows/hello.yml") + "\n"
    assert committed == text and "# a comment the UI must not lose" in committed
    # the checked-out, clean work tree followed; `flows validate` there sees the new text
    assert (served.repo / ".flows" / "hello.yml").read_text() == text
    assert git(served.repo, "status", "--porcelain") == ""
    assert run_cli("validate", cwd=served.repo).returncode == 0
    status, flows = api(served.base, "GET", "/api/v1/flows")
    assert [f["commit"] for f in flows] == [saved["commit"]]
    status, run = api(served.base, "POST", "/api/v1/executions/demo/hello?wait=true", {})
    assert run["state"]["current"] == "SUCCESS" and run["outputs"] == {} and \
        run["taskRunList"][0]["outputs"]["value"] == "v2"
    # the default message and author
    again = load(served)
    status, saved = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "base": again["commit"], "source": text + "# more\n"})
    assert status == 200, saved
    assert git(served.repo, "log", "-1", "--format=%an <%ae>|%s") == \
        "gitflows UI <ui@gitflows.invalid>|Update flow demo.hello"


def test_stale_base_conflicts_or_rebases(served: Served) -> None:
    source = load(served)
    (served.repo / ".flows" / "hello.yml").write_text(HELLO.replace("v1", "theirs"))
    theirs = commit_all(served.repo, "theirs")
    status, conflict = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "base": source["commit"], "source": HELLO.replace("v1", "mine")})
    assert status == 409 and conflict["reason"] == "stale"
    assert conflict["head"] == theirs and conflict["source"] == HELLO.replace("v1", "theirs")
    assert conflict["message"].startswith(".flows/hello.yml changed on main")
    assert git(served.repo, "rev-parse", "main") == theirs
    # only another file changed since the editor loaded: committed on top of the new head
    fresh = load(served)
    (served.repo / "README.txt").write_text("someone else\n")
    other = commit_all(served.repo, "readme")
    status, saved = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "base": fresh["commit"], "source": HELLO.replace("v1", "mine")})
    assert status == 200 and saved["rebased"] and saved["parent"] == other
    assert git(served.repo, "show", "main:README.txt") == "someone else"
    # a dirty work tree on the checked-out branch: refused, the local edit kept
    (served.repo / "README.txt").write_text("uncommitted\n")
    status, refused = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "base": saved["commit"], "source": HELLO.replace("v1", "again")})
    assert status == 409 and refused["reason"] == "worktree-dirty"
    assert (served.repo / "README.txt").read_text() == "uncommitted\n"
    assert git(served.repo, "rev-parse", "main") == saved["commit"]


def test_save_to_a_new_branch(served: Served) -> None:
    source = load(served)
    status, saved = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "new_branch": "ui/try-v3", "base": source["commit"],
        "source": HELLO.replace("v1", "v3")})
    assert status == 200 and saved["branch"] == "ui/try-v3"
    assert git(served.repo, "rev-parse", "main") == source["commit"]
    on_branch = load(served, "?ref=ui/try-v3")
    assert on_branch["branch"] == "ui/try-v3" and on_branch["commit"] == saved["commit"]
    assert on_branch["branches"] == ["main", "ui/try-v3"] and "v3" in on_branch["source"]
    assert load(served, f"?ref={saved['commit']}")["branch"] is None  # a commit, not a branch
    status, again = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "new_branch": "ui/try-v3", "base": source["commit"], "source": HELLO})
    assert status == 409 and again["reason"] == "branch-exists"


def test_delete_is_a_commit_git_revert_restores(served: Served) -> None:
    source = load(served)
    status, refused = api(served.base, "DELETE", "/api/v1/flows/demo/hello?branch=main")
    assert status == 422 and "'base' is required" in refused["message"]
    status, deleted = api(served.base, "DELETE",
                          f"/api/v1/flows/demo/hello?branch=main&base={source['commit']}")
    assert status == 200 and deleted["file"] == ".flows/hello.yml", deleted
    assert git(served.repo, "log", "-1", "--format=%s") == "Delete flow demo.hello"
    assert api(served.base, "GET", "/api/v1/flows")[1] == []
    assert api(served.base, "GET", "/api/v1/flows/demo/hello/source")[0] == 404
    git(served.repo, "-c", "user.name=o", "-c", "user.email=o@example.invalid", "revert",
        "--no-edit", deleted["commit"])
    assert load(served)["source"] == HELLO


def test_invalid_text_is_422_with_diagnostics_and_nothing_is_committed(served: Served) -> None:
    source = load(served)
    head = source["commit"]
    bad_type = HELLO.replace("io.kestra.plugin.core.debug.Return", "io.kestra.nope.Return")
    bad_yaml = HELLO + "  - id: [unclosed\n"
    for text, line in ((bad_type, 6), (bad_yaml, 9)):  # 9: where the parser gave up
        status, answer = api(served.base, "PUT", "/api/v1/flows/demo/hello/source",
                             {"branch": "main", "base": head, "source": text})
        assert status == 422, answer
        errors = [d for d in answer["diagnostics"] if d["severity"] == "error"]
        assert errors[0]["file"] == ".flows/hello.yml" and errors[0]["line"] == line, answer
        assert answer["message"].startswith(f"1 error(s): .flows/hello.yml:{line}:")
    status, renamed = api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
        "branch": "main", "base": head, "source": HELLO.replace("id: hello", "id: other")})
    assert status == 422 and "cannot rename" in renamed["message"]
    status, missing = api(served.base, "PUT", "/api/v1/flows/demo/hello/source",
                          {"base": head, "source": HELLO})
    assert status == 422 and missing["message"] == "'branch' is required"
    assert git(served.repo, "rev-parse", "main") == head


def test_create_a_flow(served: Served) -> None:
    head = git(served.repo, "rev-parse", "main")
    status, created = api(served.base, "POST", "/api/v1/flows",
                          {"branch": "main", "base": head, "source": NEW})
    assert status == 200 and created["file"] == ".flows/fresh.yml", created
    assert git(served.repo, "log", "-1", "--format=%s") == "Create flow demo.new.fresh"
    assert (served.repo / ".flows" / "fresh.yml").read_text() == NEW
    status, exists = api(served.base, "POST", "/api/v1/flows",
                         {"branch": "main", "base": created["commit"], "source": NEW})
    assert status == 409 and exists["reason"] == "exists"
    # the same namespace and id in another file counts as existing too
    twin = HELLO.replace("format:", "# twin\n    format:")
    status, exists = api(served.base, "POST", "/api/v1/flows", {"branch": "main", "source": twin})
    assert status == 409 and exists["file"] == ".flows/hello.yml"
    status, flows = api(served.base, "GET", "/api/v1/flows")
    assert sorted(f["id"] for f in flows) == ["fresh", "hello"]


def test_concurrent_saves_with_the_same_base_one_wins(served: Served) -> None:
    base = load(served)["commit"]
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(6)

    def save(n: int) -> None:
        start.wait()
        answers.append(api(served.base, "PUT", "/api/v1/flows/demo/hello/source", {
            "branch": "main", "base": base, "source": HELLO.replace("v1", f"writer {n}")}))

    threads = [threading.Thread(target=save, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 409, 409, 409, 409, 409], answers
    winner = next(body for status, body in answers if status == 200)
    assert git(served.repo, "rev-parse", "main") == winner["commit"]
    assert git(served.repo, "rev-parse", "main~1") == base
    assert all(body["reason"] == "stale" and body["head"] == winner["commit"]
               for status, body in answers if status == 409)
    assert git(served.repo, "status", "--porcelain") == ""


def test_a_remote_repository_gets_the_commit_pushed(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process",
                     "--repo", f"octo/hello=file://{origin}"], cwd=tmp_path,
                    log=tmp_path / "serve.log")
    try:
        status, source = api(server.base, "GET", "/api/v1/flows/demo/hello/source")
        assert status == 200 and source["branch"] == "main", source
        status, saved = api(server.base, "PUT", "/api/v1/flows/demo/hello/source", {
            "branch": "main", "base": source["commit"], "source": HELLO.replace("v1", "pushed")})
        assert status == 200, saved
        assert git(origin, "rev-parse", "main") == saved["commit"]
        assert "pushed" in git(origin, "show", "main:.flows/hello.yml")
        # the origin moved the file meanwhile: the mirror is fetched first, 409 stale
        (work / ".flows" / "hello.yml").write_text(HELLO.replace("v1", "upstream"))
        upstream = commit_all(work, "upstream")
        git(work, "push", "-q", "--force", str(origin), "main")
        status, conflict = api(server.base, "PUT", "/api/v1/flows/demo/hello/source", {
            "branch": "main", "base": saved["commit"], "source": HELLO.replace("v1", "late")})
        assert status == 409 and conflict["head"] == upstream, conflict
        assert git(origin, "rev-parse", "main") == upstream
    finally:
        server.stop()
