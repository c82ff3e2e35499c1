"""hashFiles(): GitHub Actions' semantics over a checkout (hypothesis over file trees and glob
patterns), links and .git left out, bounds, and the function as a flow's expression sees it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.engine.run_functions import RunFiles
from runner.globs import included
from runner.tasks import hash_files as module
from runner.tasks.hash_files import HashFilesError, hash_files, matching_files

NAMES = st.sampled_from(["a.txt", "b.txt", "req.txt", "requirements.txt", "requirements-dev.txt",
                         "setup.py", "x.lock"])
DIRS = st.sampled_from(["", "src/", "src/pkg/", "docs/"])
FILES = st.dictionaries(st.builds(lambda d, n: d + n, DIRS, NAMES), st.binary(max_size=40),
                        max_size=12)
PATTERNS = st.lists(st.sampled_from(["*.txt", "**/*.txt", "requirements*.txt", "src/**",
                                     "**/setup.py", "!**/b.txt", "!src/**", "docs/*", "*.lock",
                                     "nothing/*"]), min_size=1, max_size=4)


def expected(files: dict[str, bytes], patterns: list[str]) -> str:
    chosen = sorted(p for p in files if included(patterns, p))
    if not chosen:
        return ""
    outer = hashlib.sha256()
    for path in chosen:
        outer.update(hashlib.sha256(files[path]).digest())
    return outer.hexdigest()


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


@settings(max_examples=60, deadline=None)
@given(files=FILES, patterns=PATTERNS)
def test_hash_is_githubs_over_the_selected_files(tmp_path_factory: pytest.TempPathFactory,
                                                 files: dict[str, bytes], patterns: list[str]) -> None:
    root = tmp_path_factory.mktemp("repo")
    write(root, files)
    assert hash_files(root, patterns) == expected(files, patterns)
    selected = matching_files(root, patterns)
    assert selected == sorted(p for p in files if included(patterns, p))


@settings(max_examples=40, deadline=None)
@given(files=FILES, extra=st.binary(max_size=10))
def test_a_file_no_pattern_selects_changes_nothing(tmp_path_factory: pytest.TempPathFactory,
                                                   files: dict[str, bytes], extra: bytes) -> None:
    root = tmp_path_factory.mktemp("repo")
    write(root, files)
    before = hash_files(root, ["requirements*.txt"])
    (root / "unrelated.md").write_bytes(extra)
    assert hash_files(root, ["requirements*.txt"]) == before


def test_content_changes_the_hash_and_no_match_is_empty(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("a==1\n")
    first = hash_files(tmp_path, ["requirements*.txt"])
    (tmp_path / "requirements.txt").write_text("a==2\n")
    assert hash_files(tmp_path, ["requirements*.txt"]) not in ("", first)
    assert hash_files(tmp_path, ["*.lock"]) == ""


def test_links_and_git_are_never_read(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("secret")
    (tmp_path / "shadow.txt").symlink_to("/etc/passwd")
    (tmp_path / "a.txt").write_text("a")
    assert matching_files(tmp_path, ["**"]) == ["a.txt"]


def test_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        (tmp_path / f"{n}.txt").write_text("12345")
    monkeypatch.setattr(module, "MAX_FILES", 3)
    with pytest.raises(HashFilesError, match="more than 3 files"):
        hash_files(tmp_path, ["*.txt"])
    monkeypatch.setattr(module, "MAX_FILES", 10)
    monkeypatch.setattr(module, "MAX_BYTES", 12)
    with pytest.raises(HashFilesError, match="at most 12 bytes"):
        hash_files(tmp_path, ["*.txt"])
    with pytest.raises(HashFilesError, match="pattern"):
        hash_files(tmp_path, [])
    with pytest.raises(HashFilesError, match=r"\[x"):
        hash_files(tmp_path, ["[x"])


def test_the_expression_function_reads_the_checkout(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("a==1\n")
    files = RunFiles("ns", lambda: tmp_path, lambda: [])
    function = files.functions()["hashFiles"]
    assert function("requirements*.txt") == hash_files(tmp_path, ["requirements*.txt"])
    assert function(["requirements*.txt", "*.lock"]) == function("requirements*.txt", "*.lock")
    with pytest.raises(LookupError, match="checkout"):
        RunFiles("ns", lambda: None, lambda: []).hash_files("*.txt")
