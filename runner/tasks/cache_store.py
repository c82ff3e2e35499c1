"""The step cache's local store and what every store shares: which entry a key and restore
keys select, the limits, and opening the store the configuration names.

Layout under <data dir>/cache (content-addressed):
  blobs/<sha256 of the tar>.tar   one tar per distinct content, shared by keys that hold it
  keys/<sha256 of the key>.json   {key, digest, size, created}; its mtime is the last use
  tmp/                            tars being written; renamed into blobs/ when complete
Every file appears by os.replace from tmp/, so a reader never sees half a tar or half an
index, and two writers of one key both succeed (the later index wins; both blobs are whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from pathlib import Path

from runner.ports.cache import GIB, CacheEntry, CacheStore, Limits


def limits_from(environ: Mapping[str, str]) -> Limits:
    """FLOWS_CACHE_MAX_SIZE and FLOWS_CACHE_MAX_ENTRY (bytes, or with a K/M/G suffix) and
    FLOWS_CACHE_MAX_AGE_DAYS; the defaults for what is not set."""
    base = Limits()
    age = environ.get("FLOWS_CACHE_MAX_AGE_DAYS")
    return Limits(max_bytes=_bytes(environ.get("FLOWS_CACHE_MAX_SIZE"), base.max_bytes),
                  max_age=float(age) * 86400 if age else base.max_age,
                  max_entry=_bytes(environ.get("FLOWS_CACHE_MAX_ENTRY"), base.max_entry))


def _bytes(text: str | None, default: int) -> int:
    if not text:
        return default
    units = {"K": 1024, "M": 1024 ** 2, "G": GIB}
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    if value and value[-1] in units:
        return int(float(value[:-1]) * units[value[-1]])
    return int(value)


def choose(store: CacheStore, key: str,
           restore_keys: Sequence[str]) -> tuple[CacheEntry | None, bool]:
    """(entry, exact): the entry of key itself, else for the first restore key that any
    entry's key starts with, the newest such entry (GitHub's actions/cache order)."""
    found = store.exact(key)
    if found is not None:
        return found, True
    for prefix in restore_keys:
        candidates = store.with_prefix(prefix)
        if candidates:
            return max(candidates, key=lambda e: (e.created, e.key)), False
    return None, False


def key_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class LocalStore:
    """Entries in a directory (the data dir's cache/); scope keeps repositories apart."""

    name = "local"

    def __init__(self, root: Path, scope: str = "", limits: Limits | None = None) -> None:
        self.root = root
        self.scope = scope
        self.limits = limits or Limits()
        for sub in ("blobs", "keys", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def _index(self, key: str) -> Path:
        return self.root / "keys" / f"{key_name(self.scope + chr(0) + key)}.json"

    def _blob(self, digest: str) -> Path:
        return self.root / "blobs" / f"{digest}.tar"

    def _read(self, path: Path) -> tuple[str, CacheEntry] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entry = CacheEntry(str(data["key"]), str(data["digest"]), int(data["size"]),
                               float(data["created"]))
            return str(data.get("scope", "")), entry
        except (OSError, ValueError, KeyError, TypeError):
            return None  # removed meanwhile, or not ours

    def exact(self, key: str) -> CacheEntry | None:
        found = self._read(self._index(key))
        return found[1] if found is not None and found[0] == self.scope else None

    def with_prefix(self, prefix: str) -> list[CacheEntry]:
        return [e for scope, e in self._all() if scope == self.scope and e.key.startswith(prefix)]

    def _all(self) -> list[tuple[str, CacheEntry]]:
        found = (self._read(p) for p in (self.root / "keys").glob("*.json"))
        return [f for f in found if f is not None]

    def fetch(self, entry: CacheEntry, target: Path) -> bool:
        blob = self._blob(entry.digest)
        try:
            os.link(blob, target)  # the blob never changes in place: a link is a copy
        except OSError:
            try:
                shutil.copyfile(blob, target)  # streamed: an entry may be gigabytes
            except FileNotFoundError:
                return False
        with contextlib.suppress(OSError):
            os.utime(self._index(entry.key))  # a hit is a use: eviction keeps it longer
        return True

    def put(self, key: str, tar: Path, digest: str) -> CacheEntry:
        entry = CacheEntry(key, digest, tar.stat().st_size, time.time())
        os.replace(tar, self._blob(digest))
        body = {"scope": self.scope, "key": key, "digest": digest, "size": entry.size,
                "created": entry.created}
        _write_atomic(self._index(key), json.dumps(body).encode("utf-8"), self.scratch())
        return entry

    def scratch(self) -> Path:
        return self.root / "tmp"

    def evict(self, now: float) -> int:
        """Over every scope: the limits are the data dir's, not one repository's."""
        aged: list[tuple[float, Path, CacheEntry]] = []
        for path in (self.root / "keys").glob("*.json"):
            found = self._read(path)
            with contextlib.suppress(OSError):
                if found is not None:
                    aged.append((path.stat().st_mtime, path, found[1]))
        aged.sort(key=lambda item: item[0])
        dropped = 0
        while aged and (now - aged[0][0] > self.limits.max_age
                        or _total(e for _, _, e in aged) > self.limits.max_bytes):
            _, path, _ = aged.pop(0)
            path.unlink(missing_ok=True)
            dropped += 1
        kept = {e.digest for _, _, e in aged}
        for blob in (self.root / "blobs").glob("*.tar"):
            if blob.stem not in kept and now - _mtime(blob) > 60:  # not one being indexed now
                blob.unlink(missing_ok=True)
        for stale in (self.root / "tmp").iterdir():  # a writer or reader that died mid-tar
            if now - _mtime(stale) > 86400:
                if stale.is_dir() and not stale.is_symlink():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
        return dropped


def _total(entries: Iterable[CacheEntry]) -> int:
    seen: dict[str, int] = {}
    for entry in entries:
        seen[entry.digest] = entry.size
    return sum(seen.values())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _write_atomic(path: Path, data: bytes, scratch: Path) -> None:
    tmp = scratch / f"{path.name}.{os.getpid()}.{time.monotonic_ns()}"
    tmp.write_bytes(data)
    os.replace(tmp, path)


def open_store(environ: Mapping[str, str], data_dir: Path, scope: str = "") -> CacheStore:
    """FLOWS_CACHE_URL: s3://bucket/prefix (workers on many machines share it; endpoint in
    FLOWS_CACHE_S3_ENDPOINT) or a directory; <data dir>/cache when unset."""
    url = environ.get("FLOWS_CACHE_URL", "").strip()
    limits = limits_from(environ)
    if url.startswith("s3://"):
        # an adapter (boto3, the s3 extra): loaded by name, as plugins are, so the engine and
        # the tasks never depend on it (import-linter layers)
        adapter = import_module("runner.plugins.cache_s3")
        store: CacheStore = adapter.S3Store(url, environ, data_dir / "cache-tmp", scope, limits)
        return store
    root = Path(url.removeprefix("file://")) if url else data_dir / "cache"
    return LocalStore(root, scope, limits)
