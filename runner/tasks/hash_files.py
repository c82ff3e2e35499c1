"""hashFiles(pattern, ...): one hash of the repository files a list of patterns selects, for
cache keys (`cache.key: "pip-{{ hashFiles('requirements*.txt') }}"`), as GitHub Actions'
hashFiles() computes it: the sha256 of each matching file, in sorted path order, hashed
together; '' when no file matches.

Patterns are GitHub's (runner/globs.py: `*` stays within a directory, `**` crosses them,
a leading `!` excludes, the last matching pattern wins) over paths from the checkout root.
Only regular files are read, no link is followed (a link to /etc/passwd adds nothing), `.git`
is never walked, and a hostile repository is bounded: at most MAX_FILES files and MAX_BYTES
bytes are hashed, beyond that the call fails instead of hashing for minutes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from runner.globs import compile_pattern, included
from runner.tasks.beneath import read_beneath, size_beneath

MAX_FILES = 10_000
MAX_BYTES = 512 * 1024 * 1024
MAX_PATTERNS = 64


class HashFilesError(ValueError):
    """Bad patterns, or more files than hashFiles() reads."""


def _walk(root: Path) -> Iterator[str]:
    """Relative paths of regular files under root, sorted, without .git or links."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        base = Path(folder)
        for name in sorted(files):
            path = base / name
            try:
                if stat.S_ISREG(path.lstat().st_mode):
                    yield path.relative_to(root).as_posix()
            except OSError:
                continue


def matching_files(root: Path, patterns: Sequence[str]) -> list[str]:
    """The sorted relative paths hashFiles(*patterns) reads."""
    if not patterns:
        raise HashFilesError("hashFiles() needs at least one pattern")
    if len(patterns) > MAX_PATTERNS:
        raise HashFilesError(f"hashFiles() takes at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        try:
            compile_pattern(pattern)
        except ValueError as err:
            raise HashFilesError(f"hashFiles('{pattern}'): {err}") from None
    found = []
    for rel in _walk(root):
        if included(patterns, rel):
            found.append(rel)
            if len(found) > MAX_FILES:
                raise HashFilesError(f"hashFiles() matches more than {MAX_FILES} files")
    return sorted(found)


def hash_files(root: Path, patterns: Sequence[str]) -> str:
    """The hex sha256 over the files' own sha256 digests; '' when none match."""
    files = matching_files(root, [str(p).removeprefix("./") for p in patterns])
    if not files:
        return ""
    total = 0
    outer = hashlib.sha256()
    for rel in files:
        try:
            total += size_beneath(root, rel)
            if total > MAX_BYTES:
                raise HashFilesError(f"hashFiles() reads at most {MAX_BYTES} bytes")
            data = read_beneath(root, rel)
        except HashFilesError:
            raise
        except OSError:  # replaced by a link or removed since the walk: not a file to hash
            continue
        outer.update(hashlib.sha256(data).digest())
    return outer.hexdigest()
