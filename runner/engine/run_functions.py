"""The functions of an execution's expressions that need the run: tasksWithState(), and the
file functions read(), fileSize(), fileExists(), isFileEmpty() and fileURI(), as Kestra
defines them, over this engine's two stores.

A path is a file of the repository checkout (Kestra's namespace files: `sql/a.sql`,
`nsfile:///sql/a.sql`, `kestra:///<namespace>/_files/sql/a.sql`) or, given absolute, a file
the run was handed (its artifacts, its parent execution's, a trusted run's trigger files).
Nothing else is reachable, and every path is opened walking down from its root without
following a symbolic link: a step that plants `out.txt -> /etc/shadow` gets no byte of it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.tasks.beneath import UnsafePath, read_beneath, size_beneath

NSFILE = "nsfile://"
KESTRA = "kestra:///"


@dataclass(frozen=True)
class Located:
    """A file as a root to walk down from and a relative path beneath it."""

    root: Path
    rel: str


class RunFiles:
    """The file functions bound to one run's roots (computed when called: a run's
    artifacts directory appears with its first output file)."""

    def __init__(self, namespace: str, checkout: Callable[[], Path | None],
                 handed: Callable[[], Sequence[Path]]) -> None:
        self.namespace = namespace
        self._checkout = checkout
        self._handed = handed

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {"read": self.read, "fileSize": self.file_size, "fileExists": self.file_exists,
                "isFileEmpty": self.is_file_empty, "fileURI": self.file_uri,
                "hashFiles": self.hash_files}

    # -- Kestra's functions -----------------------------------------------------
    def read(self, path: Any, namespace: str | None = None) -> str:
        found = self.locate(path, namespace)
        try:
            return read_beneath(found.root, found.rel).decode("utf-8", errors="replace")
        except OSError as err:
            raise LookupError(_missing("read", path, err)) from None

    def file_size(self, path: Any, namespace: str | None = None) -> int:
        found = self.locate(path, namespace)
        try:
            return size_beneath(found.root, found.rel)
        except OSError as err:
            raise LookupError(_missing("fileSize", path, err)) from None

    def file_exists(self, path: Any, namespace: str | None = None) -> bool:
        """False for a path of an allowed store that holds no regular file (a link is not
        one); an error, as in Kestra, for a path outside them."""
        found = self.locate(path, namespace)
        try:
            size_beneath(found.root, found.rel)
        except OSError:
            return False
        return True

    def is_file_empty(self, path: Any, namespace: str | None = None) -> bool:
        return self.file_size(path, namespace) == 0

    def file_uri(self, path: Any) -> str:
        """The URI of a repository file, for a task property that takes one. Kestra writes
        kestra:///<namespace>/_files/<path>; nsfile:/// names the same file and is what
        inputFiles (here and in Kestra) and this engine's file functions read."""
        return NSFILE + "/" + _relative(str(path), "fileURI")

    def hash_files(self, *patterns: Any) -> str:
        """gitflows' hashFiles(glob, ...) (GitHub Actions' function; Kestra has none): one
        sha256 over the checkout's files the patterns select, '' when none match."""
        root = self._checkout()
        if root is None:
            raise LookupError("hashFiles() needs a repository checkout")
        flat = [str(q) for p in patterns for q in (p if isinstance(p, list) else [p])]
        from runner.tasks.hash_files import HashFilesError, hash_files  # globs: a flow that asks

        try:
            return hash_files(root.resolve(), flat)
        except HashFilesError as err:
            raise ValueError(str(err)) from None

    # -- where a path leads -----------------------------------------------------
    def locate(self, path: Any, namespace: str | None = None) -> Located:
        text = str(path)
        if namespace is not None and namespace != self.namespace:
            raise PermissionError(f"'{text}': only the files of this flow's namespace "
                                  f"({self.namespace}) are in the repository checkout")
        if text.startswith(KESTRA):
            prefix = KESTRA + self.namespace.replace(".", "/") + "/_files/"
            if not text.startswith(prefix):
                raise PermissionError(f"'{text}' is not a file of this execution: its artifacts "
                                      "are absolute paths (outputs.<task>.uri)")
            return self._in_checkout(text[len(prefix):], text)
        if text.startswith(NSFILE):
            return self._in_checkout(text[len(NSFILE):], text)
        local = text.removeprefix("file://")
        if local.startswith("/"):
            for root in self._handed():
                rel = _beneath(root, local)
                if rel is not None:  # the engine's own root may sit behind a link; walk from its target
                    return Located(root.resolve(), rel)
        return self._in_checkout(text, text)  # '/sql/a.sql' is the repository's too

    def _in_checkout(self, rel: str, text: str) -> Located:
        root = self._checkout()
        if root is None:
            raise LookupError(f"'{text}': namespace files need a repository checkout")
        return Located(root.resolve(), _relative(rel, text))


def _relative(rel: str, text: str) -> str:
    parts = [p for p in PurePosixPath(rel.lstrip("/")).parts if p != "."]
    if not parts or ".." in parts:
        raise PermissionError(f"'{text}' is not a path inside the repository")
    return "/".join(parts)


def _beneath(root: Path, path: str) -> str | None:
    """path relative to root, judged on the text (no link resolved); None if not under it.
    The root is tried as given and resolved: artifact paths are written from either."""
    lexical = PurePosixPath(os.path.normpath(path))
    for base in dict.fromkeys((PurePosixPath(root), PurePosixPath(root.resolve()))):
        if base in lexical.parents:
            return lexical.relative_to(base).as_posix()
    return None


def _missing(function: str, path: Any, err: OSError) -> str:
    if isinstance(err, UnsafePath) or err.errno == errno.ELOOP:
        return f"{function}('{path}'): not a regular file reached without a link ({err.strerror})"
    return f"{function}('{path}'): no such file"


def tasks_with_state(tasks: Mapping[str, Any], state: Any) -> list[dict[str, Any]]:
    """Kestra's tasksWithState('FAILED'): {taskId, state} for each task whose latest task run
    is in that state, {taskId, state, value} for each such run of a loop (`tasks` is the
    context's tasks.<id>.state / tasks.<id>[value].state), in the order they ran."""
    wanted = str(state).upper()
    found: list[dict[str, Any]] = []
    for task_id, entry in tasks.items():
        for key, value in entry.items():
            if key == "state" and isinstance(value, str) and value.upper() == wanted:
                found.append({"taskId": task_id, "state": wanted})
            elif isinstance(value, Mapping) and str(value.get("state", "")).upper() == wanted:
                found.append({"taskId": task_id, "state": wanted, "value": key})
    return found
