"""Flows known to pass the schema, kept on disk, so a fresh `flows run` or `flows validate`
of a flow checked before need not import jsonschema (issue 21, cold start).

Only a pass is kept (a failure is recomputed: its diagnostics need positions). The key is
the SHA-256 of the schema, of the flow's data as canonical JSON, and of what else decides a
verdict: the validating code and the installed jsonschema. A plugin installed or removed
changes the schema, so its flows are checked again. Unusable cache: every flow is checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any

MAX_KEYS = 4096  # kept passes; the older half is dropped beyond this
_ENTRY = 65  # a hex SHA-256 and its newline
_lock = threading.Lock()


def cache_file() -> Path | None:
    """$GITFLOWS_CACHE_DIR, else the XDG cache directory; GITFLOWS_CACHE_DIR=off disables it."""
    configured = os.environ.get("GITFLOWS_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        return Path(configured) / "schema-passes"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitflows" / "schema-passes"


def _stamp(path: str | None) -> str:
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return "?"
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else "?"


def _code_stamp() -> str:
    """What validates besides the schema: our checking code and the jsonschema install."""
    from runner import durations
    from runner.language import schema

    spec = importlib.util.find_spec("jsonschema")
    return "|".join(_stamp(p) for p in (schema.__file__, durations.__file__,
                                        spec.origin if spec else None))


def source_key(name: str) -> str:
    """A key for a schema that the gitflows source alone decides (the built-in types): the
    size and modification time of every module of the runner package, and jsonschema's."""
    import runner

    root = os.path.dirname(runner.__file__)
    stamps = [_code_stamp()]
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        stamps += [_stamp(os.path.join(folder, f)) for f in sorted(files) if f.endswith(".py")]
    return hashlib.sha256("\n".join([name, *stamps]).encode()).hexdigest()


def schema_key(schema: dict[str, Any]) -> str:
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{_code_stamp()}\n{text}".encode()).hexdigest()


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON holds value without loss: string keys only, JSON types only (1 and "1" differ)."""
    if depth > 200:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def flow_key(schema_key: str, data: Any) -> str | None:
    """The key of this data under this schema, or None when its JSON would be ambiguous."""
    if not _plain(data):
        return None
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(f"{schema_key}\n{text}".encode()).hexdigest()


class Passes:
    """The keys of flows that passed, read once per process, appended to as flows pass."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._keys: set[str] | None = None

    def _load(self) -> set[str]:
        if self._keys is None:
            try:
                text = self.path.read_text(encoding="ascii") if self.path else ""
            except (OSError, UnicodeDecodeError):
                text = ""
            self._keys = {line for line in text.split("\n") if len(line) == 64}
        return self._keys

    def __contains__(self, key: str) -> bool:
        with _lock:
            return key in self._load()

    def add(self, key: str) -> None:
        with _lock:
            keys = self._load()
            if key in keys:
                return
            keys.add(key)
            with contextlib.suppress(OSError):  # a read-only home: every flow is checked
                self._write(key, keys)
            if len(keys) > MAX_KEYS:  # a long-lived server: reread the trimmed file instead
                self._keys = None

    def _write(self, key: str, keys: set[str]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size >= MAX_KEYS * _ENTRY:
            kept = self.path.read_text(encoding="ascii").split()[-(MAX_KEYS // 2):]
            temp = self.path.with_name(f"{self.path.name}.{os.getpid()}")
            temp.write_text("\n".join([*kept, key]) + "\n", encoding="ascii")
            os.replace(temp, self.path)  # concurrent writers: one file wins, both stay valid
            return
        with open(self.path, "a", encoding="ascii") as out:  # one short append: atomic
            out.write(key + "\n")
