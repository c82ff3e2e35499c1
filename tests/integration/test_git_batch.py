"""runner.git.batch answers as runner.git.diff does one commit at a time, on real repositories
whose file names and commit messages are generated (hostile ones included: names that look
like commit ids or raw diff lines, newlines, spaces; messages with blank lines and no end)."""

from __future__ import annotations

import itertools
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.git.batch import changed_between, read_commits
from runner.git.diff import changed_paths, commit_message
from runner.git.repo import GitRepo

NAMES = st.one_of(
    st.sampled_from([":100644 100644 x", "0" * 40, "a" * 40, "a b", "new\nline", "dir/x",
                     "dir/sub/y", ".flows/ci.yml", "é.txt", "-x", "tab\there"]),
    st.text(st.characters(codec="utf-8", exclude_characters="/\0"),
            min_size=1, max_size=8).filter(lambda n: n not in (".", "..", ".git")))
MESSAGES = st.text(st.characters(codec="utf-8", exclude_characters="\0"),
                   max_size=40)
COMMITS = st.lists(st.tuples(st.dictionaries(NAMES, st.binary(max_size=4), max_size=4),
                             st.lists(NAMES, max_size=2), MESSAGES), min_size=1, max_size=5)


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.invalid", *args], input=data, check=True,
                          capture_output=True).stdout.decode().strip()


def _build(repo: Path, commits: list[tuple[dict[str, bytes], list[str], str]]) -> list[str]:
    """One commit per item (files written, files removed, the raw message, no clean-up)."""
    _git(repo, "init", "-q", "-b", "main")
    made: list[str] = []
    for files, removed, message in commits:
        for name, content in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            if (repo / name).is_dir():
                continue
            (repo / name).write_bytes(content)
        for name in removed:
            if (repo / name).is_file():
                (repo / name).unlink()
        _git(repo, "add", "-A")
        tree = _git(repo, "write-tree")
        parent = ["-p", made[-1]] if made else []
        made.append(_git(repo, "commit-tree", tree, *parent, "-F", "-", data=message.encode()))
        _git(repo, "update-ref", "refs/heads/main", made[-1])
    return made


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COMMITS)
def test_batch_answers_match_one_at_a_time(commits: list[tuple[dict[str, bytes], list[str], str]]
                                           ) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = GitRepo(Path(tmp) / "r")
        repo.path.mkdir()
        made = _build(repo.path, commits)
        pairs = list(itertools.product(made, made))
        batch = changed_between(repo, pairs)
        assert {pair: changed_paths(repo, *pair) for pair in pairs} == batch
        found = read_commits(repo, [*made, "f" * 40], ".flows")
        assert set(found) == set(made)
        for sha in made:
            assert found[sha].message == commit_message(repo, sha)
            assert found[sha].tree == _flows_tree(repo.path, sha)


def _flows_tree(repo: Path, sha: str) -> str | None:
    kind = subprocess.run(["git", "-C", str(repo), "cat-file", "-t", f"{sha}:.flows"],
                          capture_output=True, text=True).stdout.strip()
    return _git(repo, "rev-parse", f"{sha}:.flows") if kind == "tree" else None
