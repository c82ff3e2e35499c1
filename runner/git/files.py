"""The files of a checkout, as tasks see them through `namespaceFiles`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner.git.repo import GitError, git

_SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".flows-data"})


@dataclass(frozen=True)
class CheckoutFiles:
    """Tracked and untracked-but-not-ignored files of a work tree (or a plain directory)."""

    root: Path

    def paths(self) -> list[str]:
        try:
            out = git(self.root, "ls-files", "-z", "--cached", "--others",
                      "--exclude-standard").stdout
        except GitError:
            return self._walk()
        return sorted(p for p in out.decode("utf-8", "surrogateescape").split("\0")
                      if p and (self.root / p).is_file())

    def _walk(self) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for name in filenames:
                found.append(str(Path(dirpath, name).relative_to(self.root)))
        return sorted(found)


def find_root(start: Path) -> Path:
    """The work tree that holds start (a flow file), else the folder above .flows/."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    try:
        return Path(git(folder, "rev-parse", "--show-toplevel").stdout.decode().strip())
    except GitError:
        return folder.parent if folder.name == ".flows" else folder
