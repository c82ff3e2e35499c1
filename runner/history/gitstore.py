"""Git objects for the history store; the only module that imports pygit2.

Notes trees use git's fanout layout: a note for object `abcdef…` lives at
`abcdef…` (flat), `ab/cdef…`, `ab/cd/ef…` and so on. Git reads every layout,
even mixed ones. We keep each directory small: a directory that would hold more
than SPLIT_AT notes is turned into two-hex-digit subdirectories once (also one
that grew bigger under an older, larger cap: the next append into it splits
it), so an append rewrites a few trees of at most a few hundred entries
whatever the number of notes. Refs are only moved with compare-and-swap
(libgit2 checks the old value under the ref's lock file).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ObjectType

from runner.git.repo import git
from runner.history.records import HistoryError, is_object_id

BLOB = int(FileMode.BLOB)
TREE = int(FileMode.TREE)
# About where git's own notes code adds a fanout level. It bounds what an append rewrites:
# at 100k notes a cap of 512 left ~390 notes (26 KB) in the directory of each append.
SPLIT_AT = 256
_CACHED_TREE_BYTES = 64 * 1024  # libgit2 keeps no tree over 4 KiB parsed by default
_BULK_BLOBS = 200  # from this many blobs on, write them as one pack (git fast-import)
_MAX_SPLIT_DEPTH = 34  # deepest prefix length that may still be split (leaf names stay >= 4)
_STALE_LOCK_S = 1.0


class Git:
    """A repository opened with libgit2. Not thread-safe: guard it with a lock."""

    def __init__(self, path: Path | str) -> None:
        try:
            self.repo = pygit2.Repository(str(path))
        except (pygit2.GitError, KeyError) as err:
            raise HistoryError(f"not a git repository: {path} ({err})") from None
        git_dir = Path(self.repo.path)
        common = git_dir / "commondir"
        self.common_dir = ((git_dir / common.read_text().strip()).resolve()
                           if common.is_file() else git_dir)
        self._empty_tree: str | None = None
        # An append reads the trees on the note's path twice (find the old note, then
        # edit it) and the next append starts from the root this one wrote: keep the
        # fanout trees parsed (a process-wide libgit2 setting, within its cache budget).
        pygit2.settings.cache_object_limit(ObjectType.TREE, _CACHED_TREE_BYTES)
        self._signature: pygit2.Signature | None = None
        self._written: tuple[str | None, str | None] = (None, None)  # last commit made, its tree

    # -- plain objects ---------------------------------------------------------
    def ref(self, name: str) -> str | None:
        ref = self.repo.references.get(name)
        return None if ref is None else str(ref.target)

    def exists(self, oid: str) -> bool:
        return oid in self.repo.odb

    def blob(self, oid: str) -> bytes | None:
        try:
            kind, data = self.repo.odb.read(oid)
        except (KeyError, ValueError):
            return None
        return data if kind == ObjectType.BLOB else None

    def write_blob(self, data: bytes) -> str:
        return str(self.repo.create_blob(data))

    def write_blobs(self, blobs: list[bytes]) -> list[str]:
        """Many blobs at once: one pack file through `git fast-import` rather than one
        loose file each (a file creation costs far more than hashing)."""
        if len(blobs) < _BULK_BLOBS or not _sha1_repo(self):
            return [self.write_blob(data) for data in blobs]
        stream = bytearray()
        for data in blobs:
            stream += b"blob\ndata %d\n" % len(data) + data + b"\n"
        stream += b"done\n"
        done = git(Path(self.repo.path), "fast-import", "--quiet", "--done",
                   input_bytes=bytes(stream), check=False)
        if done.returncode != 0:
            raise HistoryError(f"git fast-import: {done.stderr.decode(errors='replace').strip()}")
        ids = [hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() for data in blobs]
        missing = [oid for oid in ids[:1] + ids[-1:] if oid not in self.repo.odb]
        if missing:
            raise HistoryError(f"git fast-import did not store {missing[0]}")
        return ids

    def tree_of(self, commit: str | None) -> str | None:
        if commit is None:
            return None
        if commit == self._written[0]:  # the tip we wrote last: no need to read it back
            return self._written[1]
        try:
            obj = self.repo[commit]
        except (KeyError, ValueError):
            return None
        return str(obj.tree_id) if isinstance(obj, pygit2.Commit) else None

    def empty_tree(self) -> str:
        if self._empty_tree is None:
            self._empty_tree = str(self.repo.TreeBuilder().write())
        return self._empty_tree

    def write_files(self, files: Mapping[str, bytes]) -> str:
        """A tree of plain files (one level)."""
        builder = self.repo.TreeBuilder()
        for name, data in files.items():
            builder.insert(name, self.repo.create_blob(data), BLOB)
        return str(builder.write())

    def file_in(self, tree: str, path: str) -> bytes | None:
        try:
            obj = self.repo[tree]
            entry = obj / path if isinstance(obj, pygit2.Tree) else None
        except (KeyError, ValueError):
            return None
        return entry.data if isinstance(entry, pygit2.Blob) else None

    def entry_id(self, tree: str | None, path: str) -> str | None:
        if tree is None:
            return None
        obj = self.repo[tree]
        try:
            return str((obj / path).id) if isinstance(obj, pygit2.Tree) else None
        except KeyError:
            return None

    def signature(self) -> pygit2.Signature:
        if self._signature is None:
            try:
                self._signature = self.repo.default_signature
            except (KeyError, pygit2.GitError):
                self._signature = pygit2.Signature("gitflows", "gitflows@localhost")
        sig = self._signature
        return pygit2.Signature(sig.name, sig.email)  # the current time

    def write_commit(self, tree: str, parents: list[str], message: str) -> str:
        sig = self.signature()
        commit = str(self.repo.create_commit(None, sig, sig, message, tree, parents))
        self._written = (commit, tree)
        return commit

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return ancestor == descendant or self.repo.descendant_of(descendant, ancestor)

    def merge_base(self, one: str, two: str) -> str | None:
        base = self.repo.merge_base(one, two)
        return None if base is None else str(base)

    # -- compare-and-swap ------------------------------------------------------
    def cas(self, name: str, new: str, old: str | None, message: str) -> bool:
        """Point ref `name` at new if it still points at old (None: must not exist)."""
        lock = self.common_dir / f"{name}.lock"
        for _ in range(400):
            try:
                if old is None:
                    self.repo.create_reference_direct(name, pygit2.Oid(hex=new), False, message=message)
                    return True
                ref = self.repo.references.get(name)
                if ref is None or str(ref.target) != old:
                    return False
                ref.set_target(new, message)
                return True
            except (pygit2.GitError, ValueError, OSError) as err:
                if not lock.exists():
                    if old is None or "does not match" in str(err) or "exists" in str(err):
                        return False
                    raise HistoryError(f"cannot update {name}: {err}") from None
                _clear_stale_lock(lock)
        raise HistoryError(f"cannot update {name}: {lock} stays locked")

    def delete_ref(self, name: str) -> None:
        ref = self.repo.references.get(name)
        if ref is not None:
            ref.delete()

    # -- notes trees -----------------------------------------------------------
    def note_blobs(self, tree: str | None, obj: str) -> list[str]:
        """Blob ids of the note(s) for obj in a notes tree, at whatever fanout."""
        if tree is None:
            return []
        node = self.repo[tree]
        found: list[str] = []
        depth = 0
        while isinstance(node, pygit2.Tree):
            rest = obj[depth:]
            if rest in node:
                entry = node[rest]
                if isinstance(entry, pygit2.Blob):
                    found.append(str(entry.id))
            sub = rest[:2]
            if len(rest) <= 2 or sub not in node:
                break
            node = node[sub]
            depth += 2
        return found

    def edit_notes(self, tree: str | None, edits: Mapping[str, str | None]) -> str:
        """A new notes tree: each object's note set to a blob id, or removed (None).

        Only the directories on the edited paths are rewritten.
        """
        root = self.repo[tree] if tree is not None else None
        assert root is None or isinstance(root, pygit2.Tree)
        new = self._edit(root, "", dict(edits))
        return str(new) if new is not None else self.empty_tree()

    def _edit(self, tree: pygit2.Tree | None, prefix: str,
              edits: dict[str, str | None]) -> pygit2.Oid | None:
        depth = len(prefix)
        builder = self.repo.TreeBuilder(tree) if tree is not None else self.repo.TreeBuilder()
        split = tree is not None and len(tree) > 0 and _is_subdir(tree[0])
        adding = sum(1 for blob in edits.values() if blob is not None)
        if not split and depth <= _MAX_SPLIT_DEPTH and len(builder) + adding > SPLIT_AT:
            moved: dict[str, str | None] = {}
            for entry in tree if tree is not None else ():
                name = entry.name or ""
                if not _is_subdir(entry) and len(name) == 40 - depth:
                    moved[prefix + name] = str(entry.id)
                    builder.remove(name)
            edits = {**moved, **edits}
            split = True
        groups: dict[str, dict[str, str | None]] = {}
        for obj, blob in edits.items():
            rest = obj[depth:]
            if builder.get(rest) is not None:
                builder.remove(rest)
            sub = rest[:2]
            if len(rest) > 2 and (split or isinstance(builder.get(sub), pygit2.Tree)):
                groups.setdefault(sub, {})[obj] = blob
            elif blob is not None:
                builder.insert(rest, blob, BLOB)
        for sub, group in groups.items():
            child = builder.get(sub)
            new = self._edit(child if isinstance(child, pygit2.Tree) else None, prefix + sub, group)
            if new is not None:
                builder.insert(sub, new, TREE)
            elif child is not None:
                builder.remove(sub)
        if depth > 0 and len(builder) == 0:
            return None
        return builder.write()

    def diff_notes(self, old: str | None, new: str | None) -> dict[str, tuple[str | None, str | None]]:
        """object → (old note blob, new note blob) for the notes that differ."""
        old_tree = self.repo[old or self.empty_tree()]
        new_tree = self.repo[new or self.empty_tree()]
        assert isinstance(old_tree, pygit2.Tree) and isinstance(new_tree, pygit2.Tree)
        if old_tree.id == new_tree.id:
            return {}
        changes: dict[str, list[str | None]] = {}
        for delta in old_tree.diff_to_tree(new_tree).deltas:
            status = delta.status_char()  # A added, D deleted, M modified (T: blob <-> tree)
            if status not in "ADM":
                continue
            path = (delta.new_file if status == "A" else delta.old_file).path
            obj = path.replace("/", "")
            if not is_object_id(obj):
                continue
            pair = changes.setdefault(obj, [None, None])
            if status != "A":
                pair[0] = str(delta.old_file.id)
            if status != "D":
                pair[1] = str(delta.new_file.id)
        return {obj: (a, b) for obj, (a, b) in changes.items() if a != b}

    def notes(self, tree: str | None) -> Iterator[tuple[str, str]]:
        """Every (object, note blob) of a notes tree."""
        yield from ((obj, new) for obj, (_, new) in self.diff_notes(None, tree).items()
                    if new is not None)

    # -- plain path trees (the logs ref) ----------------------------------------
    def edit_paths(self, tree: str | None, edits: Mapping[str, tuple[str, int] | None]) -> str:
        """A new tree with `a/b/c` paths set to (id, filemode) or removed (None)."""
        root = self.repo[tree] if tree is not None else None
        assert root is None or isinstance(root, pygit2.Tree)
        new = self._edit_paths(root, {tuple(p.split("/")): v for p, v in edits.items()}, True)
        return str(new) if new is not None else self.empty_tree()

    def _edit_paths(self, tree: pygit2.Tree | None, edits: dict[tuple[str, ...], tuple[str, int] | None],
                    root: bool) -> pygit2.Oid | None:
        builder = self.repo.TreeBuilder(tree) if tree is not None else self.repo.TreeBuilder()
        groups: dict[str, dict[tuple[str, ...], tuple[str, int] | None]] = {}
        for parts, value in edits.items():
            if len(parts) > 1:
                groups.setdefault(parts[0], {})[parts[1:]] = value
            elif value is None:
                if builder.get(parts[0]) is not None:
                    builder.remove(parts[0])
            else:
                builder.insert(parts[0], value[0], value[1])
        for name, group in groups.items():
            child = builder.get(name)
            new = self._edit_paths(child if isinstance(child, pygit2.Tree) else None, group, False)
            if new is not None:
                builder.insert(name, new, TREE)
            elif child is not None:
                builder.remove(name)
        if not root and len(builder) == 0:
            return None
        return builder.write()


def _sha1_repo(git: Git) -> bool:
    try:
        return str(git.repo.config["extensions.objectformat"]).lower() in ("", "sha1")
    except KeyError:
        return True


def _is_subdir(entry: pygit2.Object) -> bool:
    return entry.filemode == TREE and len(entry.name or "") == 2


def _clear_stale_lock(lock: Path) -> None:
    """A ref lock left by a killed writer blocks everyone: remove it once it is old."""
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return
    if age > _STALE_LOCK_S:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
    else:
        time.sleep(0.005)
