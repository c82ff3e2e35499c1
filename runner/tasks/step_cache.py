"""`cache` on script tasks, a gitflows extension (Kestra has no equivalent; GitHub's
actions/cache is the model): restore paths before the step, save them after it succeeds.

    cache:
      key: "pip-{{ hashFiles('requirements*.txt') }}"
      restoreKeys: ["pip-"]             # prefixes, tried in order; the newest entry wins
      paths: [".venv", "~/.cache/pip"]  # relative to the working dir; ~ only for host steps

An exact hit restores and saves nothing afterwards; a restore-key hit or a miss saves after a
successful step. A fork pull request's run (untrusted) may restore but never saves, so it
cannot poison what trusted runs restore. A cache never fails a step: a store that does not
answer is a miss (restore) or a warning (save).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from runner.ports.cache import CacheStore
from runner.ports.task import TaskContext, TaskFailed

MAX_KEY = 512
_ROOTS = ("work", "home")  # tar member prefixes: the working dir, the step's home (host only)


@dataclass(frozen=True)
class CacheSpec:
    key: str
    restore_keys: tuple[str, ...]
    paths: tuple[tuple[str, str], ...]  # (root, relative path)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def parse(raw: Mapping[str, Any], in_container: bool) -> CacheSpec:
    """The rendered `cache` property, checked: TaskFailed for a key or path it cannot use."""
    key = str(raw.get("key", "")).strip()
    if not key or len(key) > MAX_KEY or "\x00" in key or "," in key:
        raise TaskFailed(f"cache.key must be 1 to {MAX_KEY} characters without ',': '{key[:80]}'")
    paths: list[tuple[str, str]] = []
    for text in _listed(raw.get("paths")):
        root = "work"
        if text == "~" or text.startswith("~/"):
            if in_container:
                raise TaskFailed(f"cache path '{text}': '~' is the host's home; a container step "
                                 "caches paths under its working directory")
            root, text = "home", text[1:].lstrip("/")
        parts = PurePosixPath(text).parts
        if not parts or text.startswith("/") or ".." in parts:
            raise TaskFailed(f"cache path '{text}' must be relative to the working directory, "
                             "without '..'")
        paths.append((root, PurePosixPath(*parts).as_posix()))
    if not paths:
        raise TaskFailed("cache.paths names no path")
    restore = tuple(k.strip() for k in _listed(raw.get("restoreKeys")) if k.strip())
    return CacheSpec(key, restore, tuple(paths))


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


class StepCache:
    """One step's cache: restore() before it runs, save() after it succeeded, info() for its
    outputs (outputs.<task>.cache, shown on the execution page)."""

    def __init__(self, spec: CacheSpec, ctx: TaskContext, store: CacheStore,
                 home: Path | None = None) -> None:
        self.spec = spec
        self.ctx = ctx
        self.store = store
        self.max_entry = store.limits.max_entry
        self.roots = {"work": ctx.workdir, "home": home or Path.home()}
        self.info: dict[str, Any] = {"key": spec.key, "store": store.name, "hit": "miss",
                                     "saved": False}
        self.exact = False

    def restore(self) -> None:
        from runner.tasks.cache_store import choose

        started = time.monotonic()
        try:
            entry, self.exact = choose(self.store, self.spec.key, self.spec.restore_keys)
            if entry is None:
                self.ctx.log("INFO", f"cache miss: {self.spec.key} ({self.store.name} store)")
                return
            with tempfile.TemporaryDirectory(dir=self.store.scratch()) as tmp:
                tar = Path(tmp) / "entry.tar"
                if not self.store.fetch(entry, tar):
                    self.ctx.log("WARN", f"cache entry {entry.key} is gone (evicted): a miss")
                    return
                self._unpack(tar)
        except Exception as err:  # a cache that fails is a miss, not a failure
            self.exact = False
            self._clear()
            self.ctx.log("WARN", f"cache restore failed, a miss: {err}")
            return
        self.info.update(hit="exact" if self.exact else "restore-key", restoredKey=entry.key,
                         restoredBytes=entry.size)
        self.ctx.log("INFO", f"cache {'hit' if self.exact else 'restored from restore key'}: "
                             f"{entry.key} ({_mb(entry.size)}, {time.monotonic() - started:.2f}s, "
                             f"{self.store.name} store)")

    def _unpack(self, tar: Path) -> None:
        with tarfile.open(tar, "r:") as archive:
            members = archive.getmembers()
            for root in _ROOTS:
                prefix = root + "/"
                chosen = [m.replace(name=m.name[len(prefix):], deep=False) for m in members
                          if m.name.startswith(prefix) and len(m.name) > len(prefix)]
                if chosen:
                    self.roots[root].mkdir(parents=True, exist_ok=True)
                    # 'tar' filter: no absolute or '..' member, none written through a link
                    archive.extractall(self.roots[root], members=chosen, filter="tar")

    def _clear(self) -> None:
        """Remove what a failed restore left in the working directory (a link it made first
        must not lead the step's writes elsewhere); the home's paths are the user's own."""
        for root, rel in self.spec.paths:
            path = self.roots[root] / rel
            if root != "work":
                continue
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)

    def save(self) -> None:
        if self.exact:
            self.ctx.log("INFO", f"cache not saved: {self.spec.key} was an exact hit")
            return
        if self.ctx.untrusted:
            self.ctx.log("INFO", "cache not saved: a fork pull request's run may restore the "
                                 "cache but never saves it")
            self.info["skipped"] = "untrusted"
            return
        try:
            self._save()
        except Exception as err:  # the step succeeded; the cache is a bonus
            self.ctx.log("WARN", f"cache not saved: {err}")

    def _save(self) -> None:
        started = time.monotonic()
        fd, name = tempfile.mkstemp(suffix=".tar", dir=self.store.scratch())
        tar = Path(name)
        try:
            with open(fd, "wb") as out:
                found = self._pack(out)
            if not found:
                self.ctx.log("WARN", "cache not saved: none of its paths exist after the step")
                return
            with tar.open("rb") as data:
                digest = hashlib.file_digest(data, "sha256").hexdigest()
            entry = self.store.put(self.spec.key, tar, digest)
        finally:
            tar.unlink(missing_ok=True)
        self.info.update(saved=True, savedBytes=entry.size)
        self.ctx.log("INFO", f"cache saved: {entry.key} ({_mb(entry.size)}, "
                             f"{time.monotonic() - started:.2f}s, {self.store.name} store)")
        with contextlib.suppress(Exception):
            self.store.evict(time.time())

    def _pack(self, out: BinaryIO) -> int:
        total = 0

        def bounded(member: tarfile.TarInfo) -> tarfile.TarInfo:
            nonlocal total
            total += member.size + 512
            if total > self.max_entry:
                raise TaskFailed(f"the cached paths are over {_mb(self.max_entry)} "
                                 "(FLOWS_CACHE_MAX_ENTRY)")
            return member

        found = 0
        with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as archive:
            for root, rel in self.spec.paths:
                path = self.roots[root] / rel
                if path.is_symlink() or path.exists():  # links are kept as links, never followed
                    archive.add(path, arcname=f"{root}/{rel}", recursive=True, filter=bounded)
                    found += 1
        return found


def open_for(props: Mapping[str, Any], ctx: TaskContext, in_container: bool) -> StepCache:
    """The cache of a step that has a `cache` property, its key rendered now."""
    raw = ctx.render(props["cache"])
    if not isinstance(raw, Mapping):
        raise TaskFailed("cache must be an object with key and paths")
    spec = parse(raw, in_container)
    env = props.get("env")  # a host step's home is the flow's env HOME when it sets one
    home = ctx.render(env).get("HOME") if isinstance(env, Mapping) and "HOME" in env else None
    return StepCache(spec, ctx, ctx.cache_store(),
                     Path(str(home)) if home and Path(str(home)).is_absolute() else None)
