"""kill -9 of the server in the middle of a save from the API: the branch has moved, the
served work tree not yet. The next server (and the next save) finishes the save, so the work
tree does not show it undone and later saves are not refused."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from runner.git.save_journal import JOURNAL, recover
from tests.conftest import Server
from tests.integration.test_editing_serve import HELLO, _repo, api, commit_all
from tests.waiting import CEILING


def git(repo: Path, *args: str, input: str | None = None,
        env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, input=input, env=env).stdout.strip()


def _intent(repo: Path, old: str, new: str) -> None:
    """What a server killed between moving main and updating the work tree leaves."""
    (repo / ".git" / JOURNAL).write_text(json.dumps(
        {"ref": "refs/heads/main", "worktree": str(repo), "old": old, "new": new,
         "writer": "999999999:1"}))
    git(repo, "update-ref", "refs/heads/main", new, old)


def _commit_beside(repo: Path, path: str, text: str) -> str:
    """A commit on main's head changing path, made without touching the work tree."""
    blob = git(repo, "hash-object", "-w", "--stdin", input=text)
    env_index = repo / ".git" / "tmp-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(env_index)}
    git(repo, "read-tree", "main", env=env)
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = git(repo, "write-tree", env=env)
    env_index.unlink()
    return git(repo, "-c", "user.name=o", "-c", "user.email=o@example.invalid", "commit-tree",
               tree, "-p", "main", "-m", "save")


def test_a_save_cut_off_by_kill_9_is_finished_by_the_next_server(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    base = git(repo, "rev-parse", "main")
    args = ["--data", str(tmp_path / "data"), "--executor", "process"]
    server = Server(args, cwd=repo, log=tmp_path / "first.log",
                    env={"GITFLOWS_TEST_PAUSE_SAVE_WORKTREE": "120"})
    text = HELLO.replace('"v1"', '"v2"')
    saving = threading.Thread(target=lambda: _ignore(lambda: api(
        server.base, "PUT", "/api/v1/flows/demo/hello/source",
        {"branch": "main", "base": base, "source": text})), daemon=True)
    saving.start()
    deadline = time.monotonic() + CEILING
    while git(repo, "rev-parse", "main") == base:  # the branch moved: the work tree is next
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    saved = git(repo, "rev-parse", "main")
    assert git(repo, "status", "--porcelain", "--untracked-files=no")  # shows the save undone

    server = Server(args, cwd=repo, log=tmp_path / "second.log")
    try:
        assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
        assert (repo / ".flows" / "hello.yml").read_text() == text
        assert git(repo, "rev-parse", "HEAD") == saved
        assert not (repo / ".git" / JOURNAL).exists()
        status, again = api(server.base, "PUT", "/api/v1/flows/demo/hello/source", {
            "branch": "main", "base": saved, "source": HELLO.replace('"v1"', '"v3"')})
        assert status == 200, again
        assert (repo / ".flows" / "hello.yml").read_text() == HELLO.replace('"v1"', '"v3"')
    finally:
        server.stop()


def _ignore(call: Callable[[], object]) -> None:
    with contextlib.suppress(OSError):  # the server was killed under it
        call()


def test_recover_finishes_a_work_tree_update_cut_off_half_way(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    old = git(repo, "rev-parse", "main")
    new = _commit_beside(repo, "README.txt", "saved\n")
    _intent(repo, old, new)
    (repo / "README.txt").write_text("saved\n")  # read-tree had written the file, not the index
    assert recover(repo) is not None
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "main") == new


def test_recover_undoes_the_save_when_the_work_tree_was_edited_since(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    old = git(repo, "rev-parse", "main")
    new = _commit_beside(repo, ".flows/hello.yml", HELLO.replace("v1", "v2"))
    _intent(repo, old, new)
    (repo / "README.txt").write_text("an edit of mine\n")
    assert "back" in (recover(repo) or "")
    assert git(repo, "rev-parse", "main") == old  # the save is undone, the edit kept
    assert (repo / "README.txt").read_text() == "an edit of mine\n"
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                          text=True).stdout == " M README.txt\n"
    assert recover(repo) is None  # the intent is gone
    commit_all(repo, "mine")
