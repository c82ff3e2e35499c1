"""The step cache's store (gitflows' `cache` on script tasks): entries of a tar each, found by
key. Two backends: a directory under the data dir (runner/tasks/cache_store.py) and an
S3-compatible bucket shared by workers on many machines (runner/plugins/cache_s3.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

GIB = 1024 ** 3


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * GIB  # all entries together (GitHub's per-repository limit)
    max_age: float = 7 * 86400.0  # unused (local) / not saved again (s3) this long: dropped
    max_entry: int = 5 * GIB  # one entry's tar; a bigger one is not saved


@dataclass(frozen=True)
class CacheEntry:
    key: str  # as the flow wrote it (the store adds its scope)
    digest: str  # sha256 of the tar: the blob's name (content-addressed)
    size: int  # bytes of the tar
    created: float  # epoch seconds the entry was saved: "newest" for restore keys


class CacheStore(Protocol):
    name: str  # "local" or "s3", for the log and the task run's outputs
    limits: Limits

    def exact(self, key: str) -> CacheEntry | None: ...

    def with_prefix(self, prefix: str) -> list[CacheEntry]: ...

    def fetch(self, entry: CacheEntry, target: Path) -> bool:
        """Copy the entry's tar to target; False when it is gone (evicted meanwhile)."""
        ...

    def put(self, key: str, tar: Path, digest: str) -> CacheEntry:
        """Store tar (a temp file the store may move) under key, replacing an older entry."""
        ...

    def scratch(self) -> Path:
        """A directory for temp tars (on the store's filesystem when it has one)."""
        ...

    def evict(self, now: float) -> int:
        """Drop entries past the age limit, then the least recently used above the size
        limit; the number dropped."""
        ...
