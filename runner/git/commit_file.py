"""Commit one file change onto a branch: a real commit, compare-and-swap, no work tree used.

The new tree is built in a temporary index (GIT_INDEX_FILE) from the parent commit, so no
checked-out work tree or index is read or written while the commit is made; the branch then
moves with `git update-ref refs/heads/B NEW OLD`, which fails when someone moved it first.
If the branch moved and the file is the same at its new head as at the base the editor
loaded, the change is made on top of the new head instead (a rebase that cannot conflict);
if the file differs there, ConflictError("stale") carries the head and the file at it.

A branch checked out in a work tree of the repository (the one `flows serve` runs in) is
updated like git's receive.denyCurrentBranch=updateInstead: only when that work tree has no
changes to tracked files, and then its index and files follow the branch; otherwise the
save is refused rather than leaving the work tree showing the change reverted.

Moving the branch and updating that work tree are two steps; a server killed between them
would leave the work tree showing the save undone (and every later save refused). So an
intent is written first (<git common dir>/gitflows-save.json) and removed after both
steps; `recover` (at server start and before each save) finishes what it finds, or puts
the branch back when the work tree changed meanwhile.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.errors import GitflowsError, UsageError
from runner.git.repo import GitError, git, git_text, tree_entry
from runner.git.save_journal import pause_for_tests, process_id, recover, save_journal, write_intent

ZERO = "0" * 40
ATTEMPTS = 25  # compare-and-swap rounds before giving up on a branch that keeps moving
_EMAIL = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")


class ConflictError(GitflowsError):
    """The change cannot be committed as asked; `reason` says why, for the API's 409.

    reasons: stale (the file changed on the branch since base; head and source say how),
    exists (a new file is there already), branch-exists, worktree-dirty, push-rejected, busy."""

    exit_code = 3

    def __init__(self, reason: str, message: str, head: str | None = None,
                 source: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.head = head
        self.source = source


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Identity:
        """'Name <email>' → Identity (UsageError when it is not that shape)."""
        match = re.fullmatch(r"\s*([^<>]*?)\s*<([^<>]*)>\s*", text)
        if match is None:
            raise UsageError(f"'{text}' is not an identity like 'Name <name@example.org>'")
        return cls.of(match.group(1), match.group(2))

    @classmethod
    def of(cls, name: object, email: object) -> Identity:
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "<>\n\r\0"):
            raise UsageError("an author needs a name without <, > or line breaks")
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise UsageError(f"'{email}' is not an email address")
        return cls(name.strip(), email)


@dataclass(frozen=True)
class Change:
    path: str  # inside the repository, e.g. .flows/hello.yml
    content: str | None  # the new text, committed byte for byte (UTF-8); None deletes the file
    message: str
    author: Identity
    committer: Identity


@dataclass(frozen=True)
class Committed:
    commit: str  # the new branch head (the parent itself when the text was already there)
    parent: str
    branch: str
    rebased: bool  # made on top of a newer head than the base the editor loaded
    changed: bool


class Publisher(Protocol):
    """How a new commit becomes the branch head: in this repository, or pushed to its origin."""

    def refresh(self) -> None: ...

    def advance(self, branch: str, new: str, old: str | None) -> bool:
        """Move branch from old (None: it must not exist) to new; False when it lost a race."""
        ...


def check_branch_name(name: str) -> str:
    if not isinstance(name, str) or not name or name.startswith("-") or \
            git(Path("."), "check-ref-format", "--branch", name, check=False).returncode != 0:
        raise UsageError(f"'{name}' is not a valid branch name")
    return name


def check_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) \
            or parts[0] == ".git" or "\0" in path or "\\" in path:
        raise UsageError(f"'{path}' is not a file path inside the repository")
    return path


def resolve_commit(repo: Path, rev: str) -> str:
    if not rev or rev.startswith("-"):  # never an option to rev-parse
        raise UsageError(f"'{rev}' is not a commit of {repo.name}")
    done = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if done.returncode != 0:
        raise UsageError(f"'{rev}' is not a commit of {repo.name}")
    return done.stdout.decode().strip()


def branch_head(repo: Path, branch: str) -> str | None:
    done = git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}",
               check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def read_file(repo: Path, commit: str, path: str) -> str | None:
    found = tree_entry(repo, commit, path)
    if found is None:
        return None
    return git(repo, "cat-file", "blob", found[1]).stdout.decode("utf-8", "replace")


def _identity_env(change: Change) -> dict[str, str]:
    return {"GIT_AUTHOR_NAME": change.author.name, "GIT_AUTHOR_EMAIL": change.author.email,
            "GIT_COMMITTER_NAME": change.committer.name,
            "GIT_COMMITTER_EMAIL": change.committer.email}


def build_commit(repo: Path, parent: str, change: Change) -> str:
    """A commit on parent with the change, made in a throwaway index; parent when the change
    leaves the tree as it was."""
    with tempfile.TemporaryDirectory(prefix="gitflows-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(repo, "read-tree", parent, env=index)
        if change.content is None:
            git(repo, "update-index", "--force-remove", "--", change.path, env=index)
        else:
            old = tree_entry(repo, parent, change.path)
            if old is not None and old[0] not in ("100644", "100755"):
                raise UsageError(f"{change.path} is not a regular file at {parent[:10]}")
            blob = git(repo, "hash-object", "-w", "--stdin", f"--path={change.path}",
                       input_bytes=change.content.encode("utf-8")).stdout.decode().strip()
            mode = old[0] if old is not None else "100644"
            git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{change.path}",
                env=index)
        tree = git(repo, "write-tree", env=index).stdout.decode().strip()
    if tree == git_text(repo, "rev-parse", f"{parent}^{{tree}}"):
        return parent
    message = change.message if change.message.endswith("\n") else change.message + "\n"
    return git(repo, "commit-tree", tree, "-p", parent, "-F", "-", env=_identity_env(change),
               input_bytes=message.encode("utf-8")).stdout.decode().strip()


def commit_change(repo: Path, branch: str, base: str, change: Change, *,
                  new_branch: str | None = None, create: bool = False,
                  publisher: Publisher | None = None,
                  pause: Callable[[int], None] | None = None) -> Committed:
    """Commit change on branch (or on new_branch, created at base) with compare-and-swap.

    create: the file must not exist yet (ConflictError "exists"). A deletion of a file that
    is not there, or an update of one that is not at base, is a UsageError."""
    check_path(change.path)
    check_branch_name(branch)
    publisher = publisher or LocalBranches(repo)
    pause = pause or (lambda attempt: time.sleep(min(0.005 * 2 ** attempt, 0.2)))
    base = resolve_commit(repo, base)
    seen = tree_entry(repo, base, change.path)  # the file as the editor loaded it
    if new_branch is not None:
        check_branch_name(new_branch)
    for attempt in range(ATTEMPTS):
        if attempt:
            publisher.refresh()
        if new_branch is not None:
            if branch_head(repo, new_branch) is not None:
                raise ConflictError("branch-exists", f"branch {new_branch} exists already")
            parent, old, target = base, None, new_branch
        else:
            head = branch_head(repo, branch)
            if head is None:
                raise UsageError(f"no branch {branch} in {repo.name}")
            if head != base and tree_entry(repo, head, change.path) != seen:
                raise ConflictError(
                    "stale", f"{change.path} changed on {branch} since {base[:10]} "
                             f"(now at {head[:10]}); reload it and apply your change again",
                    head=head, source=read_file(repo, head, change.path))
            parent, old, target = head, head, branch
        now = tree_entry(repo, parent, change.path)
        if create and now is not None:
            raise ConflictError("exists", f"{change.path} exists already on {target}",
                                head=parent, source=read_file(repo, parent, change.path))
        if not create and now is None:
            raise UsageError(f"{change.path} is not on {target} at {parent[:10]}")
        commit = build_commit(repo, parent, change)
        if commit == parent and old is not None:
            return Committed(commit, parent, target, parent != base, changed=False)
        if publisher.advance(target, commit, old):
            return Committed(commit, parent, target, parent != base, changed=commit != parent)
        pause(attempt)
    raise ConflictError("busy", f"branch {branch} kept moving while saving; try again")


def _checkedgit_text(repo: Path, ref: str) -> Path | None:
    """The work tree (main or linked) that has ref checked out, if any."""
    out = git(repo, "worktree", "list", "--porcelain").stdout.decode("utf-8", "surrogateescape")
    for block in out.split("\n\n"):
        lines = block.splitlines()
        if f"branch {ref}" in lines and lines and lines[0].startswith("worktree "):
            return Path(lines[0][len("worktree "):])
    return None


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(repo: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(repo.resolve(), threading.Lock())


@dataclass(frozen=True)
class LocalBranches:
    """Branches of this repository, moved with `git update-ref` (compare-and-swap).

    The move and the work tree update that follows it are one step for the threads of this
    process (a lock per repository), so no save sees a work tree half-way through another's
    update; the branch itself is guarded by update-ref's compare-and-swap, also against
    other processes."""

    repo: Path

    def refresh(self) -> None:
        return None

    def advance(self, branch: str, new: str, old: str | None) -> bool:
        with _lock(self.repo):
            recover(self.repo)
            return self._advance(branch, new, old)

    def _advance(self, branch: str, new: str, old: str | None) -> bool:
        ref = f"refs/heads/{branch}"
        worktree = _checkedgit_text(self.repo, ref) if old is not None else None
        if worktree is not None and git(worktree, "status", "--porcelain", "--untracked-files=no"
                                        ).stdout.strip():
            raise ConflictError(
                "worktree-dirty", f"branch {branch} is checked out in {worktree} with uncommitted "
                                  "changes; commit or stash them there, or save to a new branch")
        journal = None
        if worktree is not None and old is not None:
            journal = save_journal(self.repo)
            write_intent(journal, {"ref": ref, "worktree": str(worktree), "old": old, "new": new,
                                    "writer": process_id(os.getpid())})
        try:
            moved = git(self.repo, "update-ref", "-m", "gitflows: save from the web UI", ref, new,
                        old or ZERO, check=False)
            if moved.returncode != 0:
                return False
            if worktree is not None and old is not None:
                pause_for_tests("SAVE_WORKTREE")
                synced = git(worktree, "read-tree", "-m", "-u", old, new, check=False)
                if synced.returncode != 0:  # the work tree changed meanwhile: put the branch back
                    git(self.repo, "update-ref", ref, old, new, check=False)
                    detail = synced.stderr.decode("utf-8", "replace").strip()
                    raise ConflictError("worktree-dirty", f"branch {branch} is checked out in "
                                                          f"{worktree}, which changed while saving: {detail}")
            return True
        finally:
            if journal is not None:
                journal.unlink(missing_ok=True)


@dataclass(frozen=True)
class PushToOrigin:
    """A mirrored remote repository: the commit is pushed (fast-forward only) to the origin
    first, then the mirror's branch follows; a refused push means the race was lost."""

    mirror: Path
    push: Callable[[str, str], None]  # (commit, ref) → None, GitError when the remote refuses
    fetch: Callable[[], None]

    def refresh(self) -> None:
        self.fetch()

    def advance(self, branch: str, new: str, old: str | None) -> bool:
        ref = f"refs/heads/{branch}"
        try:
            self.push(new, ref)
        except GitError as err:
            self.fetch()
            head = branch_head(self.mirror, branch)
            if head == old:  # nobody else moved it: the remote refused for another reason
                raise ConflictError("push-rejected", f"the push to the origin was refused: "
                                                     f"{err.message}", head=head) from None
            return False
        git(self.mirror, "update-ref", ref, new, old or ZERO, check=False)  # a fetch may be first
        return True
