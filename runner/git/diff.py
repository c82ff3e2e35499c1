"""Changed paths between two commits, for the `paths` / `paths-ignore` trigger filters.

Mirrors how GitHub builds the list it filters:

- push to an existing branch (also a force push): two-dot diff `before..after`;
- push of a new branch (`before` is all zeros, or absent): diff from the merge base
  with the default branch to `after`; when there is no default branch, no merge base,
  or `after` is already on the default branch (the default branch itself, a branch
  made at an existing commit), the pushed commit's own changes (against its first
  parent; every file for a root commit);
- pull request: three-dot diff `base...head` (from their merge base), two-dot when the
  histories are unrelated;
- deletion (`after` all zeros): no path.

Renames count twice, old and new path (`--no-renames`), so a filter on either side
sees the move. Paths come from `git diff --name-only -z` (any byte in a file name,
no quoting), decoded as UTF-8 with surrogate escapes. `None` means "cannot say" (an
object is missing, e.g. a force-pushed-away `before` that was never fetched): the
dispatcher then lets path filters pass, as GitHub runs when it has no diff.
"""

from __future__ import annotations

from pathlib import Path

from runner.git.repo import GitError, GitRepo, git


def is_zero(sha: str | None) -> bool:
    """An absent commit id: None, empty, or all zeros (SHA-1 or SHA-256 width)."""
    return not sha or set(sha) == {"0"}


def _run(repo: GitRepo, *args: str) -> tuple[int, bytes]:
    done = git(repo.path, *args, check=False)
    return done.returncode, done.stdout


def _ok(repo: GitRepo, *args: str) -> bytes:
    code, out = _run(repo, *args)
    if code != 0:
        raise GitError(f"git {' '.join(args[:2])} in {repo.path} failed (exit {code})")
    return out


def _commit(repo: GitRepo, rev: str) -> str | None:
    """The full id of the commit rev names, None when it does not exist here."""
    code, out = _run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    return out.decode().strip() if code == 0 and out.strip() else None


def _names(repo: GitRepo, *spec: str) -> tuple[str, ...]:
    out = _ok(repo, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff",
              "--ignore-submodules=none", *spec, "--")
    return tuple(sorted({p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}))


def _empty_tree(repo: GitRepo) -> str:
    return _ok(repo, "hash-object", "-t", "tree", "--stdin").decode().strip()


def _merge_base(repo: GitRepo, a: str, b: str) -> str | None:
    code, out = _run(repo, "merge-base", a, b)
    return (out.decode().strip() or None) if code == 0 else None


def _default_commit(repo: GitRepo, branch: str) -> str | None:
    name = branch.removeprefix("refs/heads/")
    for candidate in (f"refs/heads/{name}", f"refs/remotes/origin/{name}"):
        found = _commit(repo, candidate)
        if found:
            return found
    return None


def own_changes(repo: GitRepo | Path, commit: str) -> tuple[str, ...] | None:
    """What a commit changes against its first parent (every file for a root commit)."""
    repo = repo if isinstance(repo, GitRepo) else GitRepo(Path(repo))
    full = _commit(repo, commit)
    if full is None:
        return None
    parent = _commit(repo, f"{full}^1")
    return _names(repo, parent or _empty_tree(repo), full)


def changed_paths(repo: GitRepo | Path, before: str | None, after: str, *,
                  default_branch: str | None = None) -> tuple[str, ...] | None:
    """Paths a push from `before` to `after` changes (sorted, unique); see the module doc."""
    repo = repo if isinstance(repo, GitRepo) else GitRepo(Path(repo))
    if is_zero(after):
        return ()
    head = _commit(repo, after)
    if head is None:
        return None
    if not is_zero(before):
        assert before is not None
        old = _commit(repo, before)
        return None if old is None else _names(repo, old, head)
    base = None
    if default_branch:
        tip = _default_commit(repo, default_branch)
        base = _merge_base(repo, tip, head) if tip else None
    if base is None or base == head:
        return own_changes(repo, head)
    return _names(repo, base, head)


def pull_request_paths(repo: GitRepo | Path, base: str, head: str) -> tuple[str, ...] | None:
    """Paths a pull request changes: `base...head` (from the merge base), like GitHub."""
    repo = repo if isinstance(repo, GitRepo) else GitRepo(Path(repo))
    base_commit, head_commit = _commit(repo, base), _commit(repo, head)
    if base_commit is None or head_commit is None:
        return None
    fork_point = _merge_base(repo, base_commit, head_commit)
    return _names(repo, fork_point or base_commit, head_commit)


def commit_message(repo: GitRepo | Path, commit: str) -> str | None:
    """The full message of a commit (for skip markers), None if the commit is not here."""
    repo = repo if isinstance(repo, GitRepo) else GitRepo(Path(repo))
    full = _commit(repo, commit)
    if full is None:
        return None
    return _ok(repo, "show", "-s", "--format=%B", full).decode("utf-8", "replace").rstrip("\n")


def head_message(repo: GitRepo | Path, commit: str, reported: str | None = None) -> str | None:
    """The message `[skip ci]` is read from, for every face (server, poller, `flows ci`): git's,
    at the commit that runs, since payloads may leave it out (GitHub tag and branch-create
    pushes, polled refs) or differ by forge; `reported` (the payload's) only when the commit
    is not here."""
    found = commit_message(repo, commit)
    return reported if found is None else found
