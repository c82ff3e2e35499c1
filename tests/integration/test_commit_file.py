"""Committing a file change onto a branch (runner/git/commit_file.py) in real git repositories:
compare-and-swap, the rebase that cannot conflict, work trees, bare mirrors and pushes."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.git import mirror
from runner.git.commit_file import (
    Change,
    ConflictError,
    Identity,
    LocalBranches,
    PushToOrigin,
    branch_head,
    commit_change,
    read_file,
)

ADA = Identity("Ada Lovelace", "ada@example.org")
BOT = Identity("gitflows UI", "ui@gitflows.invalid")
FLOW = """\
id: hello
namespace: demo
# keep this comment
tasks:
  - id: a
    type: io.kestra.plugin.core.debug.Return
    format: "1"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=o", "-c", "user.email=o@example.invalid", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / ".flows").mkdir(parents=True)
    (work / ".flows" / "hello.yml").write_text(FLOW)
    (work / "README.txt").write_text("readme\n")
    git(work, "init", "-q", "-b", "main")
    commit_all(work, "init")
    return work


def change(text: str | None, path: str = ".flows/hello.yml", message: str = "Update flow") -> Change:
    return Change(path, text, message, ADA, BOT)


def test_a_save_is_a_commit_with_author_committer_and_message(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    new = FLOW.replace('"1"', '"2"')
    done = commit_change(repo, "main", base, change(new, message="Say two"))
    assert done.changed and not done.rebased and done.parent == base
    assert git(repo, "rev-parse", "main") == done.commit
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s|%P", "main") == \
        f"Ada Lovelace <ada@example.org>|gitflows UI <ui@gitflows.invalid>|Say two|{base}"
    assert git(repo, "show", "main:.flows/hello.yml") + "\n" == new  # byte for byte, comment kept
    # main is checked out here and was clean: the work tree and index follow the branch
    assert (repo / ".flows" / "hello.yml").read_text() == new
    assert git(repo, "status", "--porcelain") == ""


def test_stale_base_with_the_file_changed_is_refused_and_nothing_is_overwritten(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    (repo / ".flows" / "hello.yml").write_text(FLOW.replace('"1"', '"theirs"'))
    theirs = commit_all(repo, "theirs")
    with pytest.raises(ConflictError) as caught:
        commit_change(repo, "main", base, change(FLOW.replace('"1"', '"mine"')))
    assert caught.value.reason == "stale" and caught.value.head == theirs
    assert caught.value.source == FLOW.replace('"1"', '"theirs"')
    assert git(repo, "rev-parse", "main") == theirs


def test_stale_base_with_other_files_changed_commits_on_top(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    (repo / "README.txt").write_text("changed by someone else\n")
    theirs = commit_all(repo, "readme")
    done = commit_change(repo, "main", base, change(FLOW.replace('"1"', '"2"')))
    assert done.rebased and done.parent == theirs
    assert git(repo, "rev-parse", "main~1") == theirs
    assert git(repo, "show", "main:README.txt") == "changed by someone else"


def test_new_branch_is_made_at_base_and_the_checked_out_branch_is_left_alone(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    done = commit_change(repo, "main", base, change(FLOW + "# more\n"), new_branch="ui/edit")
    assert done.branch == "ui/edit" and git(repo, "rev-parse", "ui/edit~1") == base
    assert git(repo, "rev-parse", "main") == base
    assert (repo / ".flows" / "hello.yml").read_text() == FLOW
    with pytest.raises(ConflictError) as caught:
        commit_change(repo, "main", base, change(FLOW + "# again\n"), new_branch="ui/edit")
    assert caught.value.reason == "branch-exists"


def test_delete_is_a_commit_that_git_revert_undoes(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    done = commit_change(repo, "main", base, change(None, message="Delete flow demo.hello"))
    assert read_file(repo, done.commit, ".flows/hello.yml") is None
    assert not (repo / ".flows" / "hello.yml").exists()
    git(repo, "-c", "user.name=o", "-c", "user.email=o@example.invalid", "revert", "--no-edit",
        done.commit)
    assert (repo / ".flows" / "hello.yml").read_text() == FLOW
    with pytest.raises(UsageError, match="not on main"):
        commit_change(repo, "main", git(repo, "rev-parse", "main"), change(None, path=".flows/no.yml"))


def test_create_refuses_an_existing_file(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    with pytest.raises(ConflictError) as caught:
        commit_change(repo, "main", base, change(FLOW), create=True)
    assert caught.value.reason == "exists"
    done = commit_change(repo, "main", base, change(FLOW, path=".flows/new.yml"), create=True)
    assert git(repo, "show", f"{done.commit}:.flows/new.yml") + "\n" == FLOW


def test_a_dirty_checked_out_work_tree_refuses_the_save(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    (repo / "README.txt").write_text("local edit, not committed\n")
    with pytest.raises(ConflictError) as caught:
        commit_change(repo, "main", base, change(FLOW + "# x\n"))
    assert caught.value.reason == "worktree-dirty"
    assert git(repo, "rev-parse", "main") == base
    assert (repo / "README.txt").read_text() == "local edit, not committed\n"
    # untracked files do not count (the data dir of `flows serve` often lives there)
    (repo / "README.txt").write_text("readme\n")
    (repo / "scratch.txt").write_text("untracked\n")
    assert commit_change(repo, "main", base, change(FLOW + "# x\n")).changed


def test_unchanged_text_makes_no_commit(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    done = commit_change(repo, "main", base, change(FLOW))
    assert not done.changed and done.commit == base == git(repo, "rev-parse", "main")


def test_bad_paths_and_branch_names_are_refused(repo: Path) -> None:
    base = git(repo, "rev-parse", "main")
    for path in ("../x.yml", "/etc/passwd", ".git/config", ".flows//a.yml"):
        with pytest.raises(UsageError):
            commit_change(repo, "main", base, change(FLOW, path=path), create=True)
    for branch in ("bad..name", "-x", "a b"):
        with pytest.raises(UsageError):
            commit_change(repo, branch, base, change(FLOW))


def test_concurrent_saves_from_one_base_exactly_one_wins(repo: Path) -> None:
    """No lock but git's: every thread builds its commit on base, update-ref is the CAS."""
    git(repo, "checkout", "-q", "--detach")  # nobody's work tree follows main: pure CAS
    base = git(repo, "rev-parse", "main")
    results: list[object] = []
    start = threading.Barrier(8)

    def save(n: int) -> None:
        start.wait()
        try:
            results.append(commit_change(repo, "main", base, change(FLOW + f"# writer {n}\n"),
                                         publisher=LocalBranches(repo)))
        except ConflictError as err:
            results.append(err)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if not isinstance(r, ConflictError)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 7, results
    assert all(err.reason == "stale" for err in losers)
    head = git(repo, "rev-parse", "main")
    assert git(repo, "rev-parse", "main~1") == base  # one commit, nothing overwritten
    assert all(err.head == head for err in losers)


def test_a_bare_mirror_pushes_to_its_origin_fast_forward_only(tmp_path: Path, repo: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    url = f"file://{origin}"
    path = mirror.ensure_mirror(url, tmp_path / "mirrors" / "r.git")
    base = branch_head(path, "main")
    assert base is not None

    def pusher() -> PushToOrigin:
        return PushToOrigin(path, lambda commit, ref: mirror.push(path, url, commit, ref),
                            lambda: mirror.fetch(path))

    done = commit_change(path, "main", base, change(FLOW + "# pushed\n"), publisher=pusher())
    assert git(origin, "rev-parse", "main") == done.commit == branch_head(path, "main")
    # only main was pushed: the mirror's other refs (none here) are not forced onto origin
    assert git(origin, "for-each-ref", "--format=%(refname)") == "refs/heads/main"
    # the origin refuses (a hook): 409 push-rejected, the mirror does not move
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(ConflictError) as caught:
        commit_change(path, "main", done.commit, change(FLOW + "# refused\n"), publisher=pusher())
    assert caught.value.reason == "push-rejected" and "protected branch" in caught.value.message
    assert branch_head(path, "main") == done.commit == git(origin, "rev-parse", "main")
    hook.unlink()
    # someone pushed a change to the same file: the push loses, then stale
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", url, str(clone))
    (clone / ".flows" / "hello.yml").write_text(FLOW + "# theirs\n")
    theirs = commit_all(clone, "theirs")
    git(clone, "push", "-q", "origin", "main")
    with pytest.raises(ConflictError) as stale:
        commit_change(path, "main", done.commit, change(FLOW + "# mine\n"), publisher=pusher())
    assert stale.value.reason == "stale" and stale.value.head == theirs
    assert git(origin, "rev-parse", "main") == theirs
