"""A worker's mirror fetches a run's commit on demand: the commit's objects arrive, the
mirror's refs stay as they were, and a failure names no token."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.git.mirror import ensure_mirror, fetch_commit
from runner.git.repo import GitError, GitRepo
from tests.integration.test_hooks import commit, git


def test_fetch_commit_brings_the_objects_and_leaves_the_refs(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    commit(origin, "a.txt", "a", "first")
    mirror = ensure_mirror(f"file://{origin}", tmp_path / "mirror.git")
    first = GitRepo(mirror).resolve("refs/heads/main")
    commit(origin, "b.txt", "b", "second")
    newer = GitRepo(origin).resolve("HEAD")
    with pytest.raises(GitError):
        GitRepo(mirror).resolve(newer)
    fetch_commit(mirror, newer)
    assert GitRepo(mirror).resolve(newer) == newer
    assert GitRepo(mirror).resolve("refs/heads/main") == first  # only objects, no ref moved


def test_a_failed_fetch_hides_the_token(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    commit(origin, "a.txt", "a", "first")
    mirror = ensure_mirror(f"file://{origin}", tmp_path / "mirror.git")
    with pytest.raises(GitError) as caught:
        fetch_commit(mirror, "0" * 40, token="tok-very-secret")
    assert "tok-very-secret" not in str(caught.value)
