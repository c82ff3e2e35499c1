"""runner/git/diff.py against real repositories: new branches, force pushes, merges, renames,
and the dispatcher fed with the paths it computes."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from runner.git.diff import changed_paths, commit_message, is_zero, own_changes, pull_request_paths
from runner.git.repo import GitRepo
from runner.language.parse import parse_flow
from runner.tasks import Registry, core, flow, git_triggers, scripts
from runner.triggers.git import GitEvent, explain, matching_triggers

ZERO = "0" * 40
ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True,
                              text=True, env=ENV).stdout.strip()

    def commit(self, message: str, files: dict[str, str | None]) -> str:
        for name, text in files.items():
            target = self.path / name
            if text is None:
                self.git("rm", "-q", "--", name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                self.git("add", "--", name)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def test_existing_branch_two_dot(repo: Repo) -> None:
    first = repo.commit("one", {"README.md": "x", "src/a.py": "a"})
    second = repo.commit("two", {"src/a.py": "b", "src/new.py": "n"})
    third = repo.commit("three", {"README.md": None})
    assert changed_paths(repo.path, first, third) == ("README.md", "src/a.py", "src/new.py")
    assert changed_paths(GitRepo(repo.path), second, third) == ("README.md",)
    assert changed_paths(repo.path, third, third) == ()


def test_new_branch_diffs_against_the_merge_base_with_the_default_branch(repo: Repo) -> None:
    repo.commit("base", {"README.md": "x", "src/a.py": "a"})
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("f1", {"src/a.py": "changed"})
    head = repo.commit("f2", {"docs/guide.md": "g"})
    repo.git("checkout", "-q", "main")
    repo.commit("main moves on", {"other.txt": "o"})
    assert changed_paths(repo.path, ZERO, head, default_branch="main") == ("docs/guide.md", "src/a.py")
    assert changed_paths(repo.path, None, head, default_branch="refs/heads/main") == \
        ("docs/guide.md", "src/a.py")


def test_new_branch_without_a_merge_base_lists_the_commits_own_changes(repo: Repo) -> None:
    root = repo.commit("root", {"README.md": "x", "src/a.py": "a"})
    assert changed_paths(repo.path, ZERO, root) == ("README.md", "src/a.py"), "root: every file"
    head = repo.commit("second", {"src/b.py": "b"})
    assert changed_paths(repo.path, ZERO, head) == ("src/b.py",), "no default branch given"
    assert changed_paths(repo.path, ZERO, head, default_branch="main") == ("src/b.py",), \
        "the default branch itself: its own changes"
    assert changed_paths(repo.path, ZERO, head, default_branch="nope") == ("src/b.py",)


def test_orphan_branch_lists_its_root_commit(repo: Repo) -> None:
    repo.commit("root", {"README.md": "x"})
    repo.git("checkout", "-q", "--orphan", "pages")
    repo.git("rm", "-rq", "--cached", ".")
    (repo.path / "README.md").unlink()
    orphan = repo.commit("pages", {"index.html": "<p>"})
    assert changed_paths(repo.path, ZERO, orphan, default_branch="main") == ("index.html",)


def test_branch_created_at_an_existing_commit(repo: Repo) -> None:
    repo.commit("one", {"a.txt": "1"})
    head = repo.commit("two", {"b.txt": "2"})
    repo.git("branch", "copy")
    assert changed_paths(repo.path, ZERO, head, default_branch="main") == ("b.txt",)


def test_force_push_diffs_old_and_new_tips(repo: Repo) -> None:
    base = repo.commit("base", {"keep.txt": "k"})
    old = repo.commit("old work", {"old.txt": "o", "keep.txt": "k2"})
    repo.git("reset", "-q", "--hard", base)
    new = repo.commit("rewritten", {"new.txt": "n"})
    ancestor = subprocess.run(["git", "-C", str(repo.path), "merge-base", "--is-ancestor", old, new])
    assert ancestor.returncode == 1, "a force push: the old tip is not an ancestor"
    assert changed_paths(repo.path, old, new) == ("keep.txt", "new.txt", "old.txt")


def test_merge_commit(repo: Repo) -> None:
    repo.commit("base", {"README.md": "x"})
    repo.git("checkout", "-q", "-b", "topic")
    repo.commit("topic", {"src/topic.py": "t"})
    repo.git("checkout", "-q", "main")
    before = repo.commit("main", {"src/main.py": "m"})
    repo.git("merge", "-q", "--no-ff", "-m", "merge topic", "topic")
    merge = repo.git("rev-parse", "HEAD")
    assert changed_paths(repo.path, before, merge) == ("src/topic.py",)
    assert own_changes(repo.path, merge) == ("src/topic.py",), "against the first parent"
    assert pull_request_paths(repo.path, "main", "topic") == (), "already merged"


def test_renames_count_old_and_new_paths(repo: Repo) -> None:
    before = repo.commit("base", {"src/old_name.py": "print('same content, long enough')\n" * 5})
    (repo.path / "lib").mkdir()
    repo.git("mv", "src/old_name.py", "lib/new_name.py")
    assert "rename" in repo.git("diff", "--cached", "-M", "--summary")
    after = repo.commit("rename", {})
    assert changed_paths(repo.path, before, after) == ("lib/new_name.py", "src/old_name.py")


def test_odd_file_names(repo: Repo) -> None:
    before = repo.commit("base", {"a.txt": "a"})
    after = repo.commit("odd", {"with space.txt": "s", "ünï/cödé.md": "u", "tab\tname": "t"})
    assert changed_paths(repo.path, before, after) == ("tab\tname", "with space.txt", "ünï/cödé.md")


def test_deletion_and_missing_objects(repo: Repo) -> None:
    head = repo.commit("one", {"a.txt": "1"})
    assert changed_paths(repo.path, head, ZERO) == ()
    assert changed_paths(repo.path, "1" * 40, head) is None, "before never fetched: unknown"
    assert changed_paths(repo.path, head, "2" * 40) is None
    assert own_changes(repo.path, "3" * 40) is None
    assert pull_request_paths(repo.path, "main", "nope") is None
    assert is_zero(ZERO) and is_zero("0" * 64) and is_zero(None) and not is_zero(head)


def test_commit_message(repo: Repo) -> None:
    head = repo.commit("subject [skip ci]\n\nbody line\n\nskip-checks: true", {"a": "1"})
    assert commit_message(repo.path, head) == "subject [skip ci]\n\nbody line\n\nskip-checks: true"
    assert commit_message(repo.path, "4" * 40) is None


def test_pull_request_three_dot(repo: Repo) -> None:
    repo.commit("base", {"README.md": "x"})
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("feature", {"src/f.py": "f"})
    repo.git("checkout", "-q", "main")
    repo.commit("main moves", {"src/m.py": "m"})
    assert pull_request_paths(repo.path, "main", "feature") == ("src/f.py",), \
        "changes on the base after the fork point are not the pull request's"
    assert changed_paths(repo.path, repo.git("rev-parse", "main"), repo.git("rev-parse", "feature")) \
        == ("src/f.py", "src/m.py"), "a two-dot diff would see both"


def test_pull_request_with_unrelated_histories(repo: Repo) -> None:
    repo.commit("base", {"README.md": "x"})
    repo.git("checkout", "-q", "--orphan", "other")
    repo.git("rm", "-rq", "--cached", ".")
    (repo.path / "README.md").unlink()
    repo.commit("other", {"o.txt": "o"})
    assert pull_request_paths(repo.path, "main", "other") == ("README.md", "o.txt")


# --- the dispatcher, fed with real changed paths ----------------------------------------------

FLOW = textwrap.dedent("""\
    id: ci
    namespace: demo
    tasks:
      - id: hello
        type: io.kestra.plugin.core.log.Log
        message: hi
    triggers:
      - id: src
        type: gitflows.trigger.Push
        paths: ['src/**']
      - id: docs
        type: gitflows.trigger.Push
        branches: ['feature/**']
        paths: ['docs/**']
    """)


def test_dispatch_with_paths_from_a_new_branch(repo: Repo) -> None:
    registry = Registry([*core.TYPES, *flow.TYPES, *scripts.TYPES, *git_triggers.TYPES])
    parsed, _ = parse_flow(FLOW, "ci.yml", registry)
    assert parsed is not None
    repo.commit("base", {"src/a.py": "a", "docs/index.md": "i"})
    repo.git("checkout", "-q", "-b", "feature/docs")
    head = repo.commit("docs only", {"docs/guide.md": "g"})
    paths = changed_paths(repo.path, ZERO, head, default_branch="main")
    event = GitEvent.for_push("refs/heads/feature/docs", repo="octo/hello", changed_paths=paths,
                              default_branch="main", head_commit_message="docs only")
    assert [t.id for t in matching_triggers(parsed, event)] == ["docs"]
    assert "none of the 1 changed path(s) matches paths ['src/**']" in explain(parsed, event)[0]
    code = repo.commit("code", {"src/a.py": "b"})
    paths = changed_paths(repo.path, head, code)
    event = GitEvent.for_push("refs/heads/feature/docs", changed_paths=paths)
    assert [t.id for t in matching_triggers(parsed, event)] == ["src"]
