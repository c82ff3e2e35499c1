"""Key-value store for kv Set/Get/Delete: one JSON file per namespace under the data dir.

Writes take an exclusive lock and replace the file atomically, so concurrent
runs (threads or processes) never lose a key and a crash leaves the old file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import fnmatch
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FileKVStore:
    def __init__(self, root: Path, clock: Callable[[], dt.datetime] = _now) -> None:
        self.root = root
        self.clock = clock
        self._lock = threading.Lock()

    def _file(self, namespace: str) -> Path:
        if not _SAFE.match(namespace):
            raise ValueError(f"invalid namespace '{namespace}'")
        return self.root / f"{namespace}.json"

    @contextmanager
    def _locked(self, namespace: str) -> Iterator[dict[str, Any]]:
        path = self._file(namespace)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read(path)
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kv-")
                with os.fdopen(fd, "w") as out:
                    json.dump(data, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _live(self, entry: dict[str, Any]) -> bool:
        expires = entry.get("expires")
        return expires is None or dt.datetime.fromisoformat(expires) > self.clock()

    def get(self, namespace: str, key: str) -> Any:
        entry = self._read(self._file(namespace)).get(key)
        return entry["value"] if entry and self._live(entry) else None

    def set(self, namespace: str, key: str, value: Any, ttl: dt.timedelta | None = None,
            overwrite: bool = True) -> bool:
        with self._locked(namespace) as data:
            if not overwrite and key in data and self._live(data[key]):
                return False
            expires = (self.clock() + ttl).isoformat() if ttl else None
            data[key] = {"value": value, "expires": expires}
            return True

    def delete(self, namespace: str, key: str) -> bool:
        with self._locked(namespace) as data:
            return data.pop(key, None) is not None

    def keys(self, namespace: str) -> list[str]:
        """The live keys of a namespace, sorted (kv.GetKeys)."""
        data = self._read(self._file(namespace))
        return sorted(key for key, entry in data.items() if self._live(entry))

    def purge(self, namespace: str, pattern: str = "*", expired_only: bool = True) -> int:
        """Delete the keys matching a glob (only expired ones by default); how many (PurgeKV)."""
        with self._locked(namespace) as data:
            doomed = [key for key, entry in data.items() if fnmatch.fnmatchcase(key, pattern)
                      and not (expired_only and self._live(entry))]
            for key in doomed:
                del data[key]
            return len(doomed)
