"""Artifacts handed from one run to a later one (issue 20): files published under a name,
content-addressed under the data directory, one store per repository.

Layout: `<data>/artifact-store/<repo>/` holds `index.sqlite` (one row per publish: name,
trust, branch, commit, execution, flow, times, files with sizes and SHA-256 digests),
`blobs/<aa>/<digest>` and `staging/`. A publish inserts its row as pending before it moves
any blob into place and marks it done after, so a kill -9 leaves a pending row and staged
files that `prune` removes, never a done row missing a blob; SQLite (WAL, busy timeout)
serialises concurrent writers. Untrusted runs (fork pull requests) publish under
trust 'untrusted', which a trusted run's lookup never returns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.sqlite_wal import use_wal

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STORE_DIR = "artifact-store"  # `<data>/artifacts` holds each execution's own output files
DEFAULT_RETENTION = dt.timedelta(days=30)
MAX_FILES = 10_000
MAX_BYTES = 2 * 1024**3  # one publish, all its files: a run cannot fill the data disk alone
# a pending publish or staged file older than this was left by a killed run
ABANDONED = dt.timedelta(hours=6)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, trust TEXT NOT NULL,
  branch TEXT, commit_id TEXT, execution TEXT NOT NULL, flow TEXT NOT NULL,
  created TEXT NOT NULL, expires TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
  files TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS by_name ON artifacts (name, trust, branch, done, id);
CREATE INDEX IF NOT EXISTS by_execution ON artifacts (execution, name);
"""


class ArtifactError(Exception):
    """A bad name or path, or an artifact that is not there."""


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative, POSIX, checked by safe_relative
    size: int
    digest: str  # SHA-256, hex


@dataclass(frozen=True)
class Artifact:
    id: int
    name: str
    trusted: bool
    branch: str | None
    commit: str | None
    execution: str
    flow: str
    created: dt.datetime
    expires: dt.datetime
    files: tuple[StoredFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "trusted": self.trusted, "branch": self.branch,
                "commit": self.commit, "execution": self.execution, "flow": self.flow,
                "created": self.created.isoformat(), "expires": self.expires.isoformat(),
                "size": self.size, "files": [{"path": f.path, "size": f.size,
                                              "sha256": f.digest} for f in self.files]}


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ArtifactError(f"artifact name '{name}' must be letters, digits, '.', '_' or '-' "
                            "(at most 128, starting with a letter or digit)")
    return name


def check_size(total: int) -> None:
    if total > MAX_BYTES:
        raise ArtifactError(f"an artifact holds at most {MAX_BYTES} bytes, these files are "
                            f"{total}")


def safe_relative(path: str) -> str:
    """path as a relative POSIX path that stays inside its directory; ArtifactError if not."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("", ".")]
    if not parts or path.startswith("/") or ".." in parts or "\0" in path or "\\" in path:
        raise ArtifactError(f"'{path}' is not a relative path inside the directory")
    return "/".join(parts)


def repo_dir(repo: str) -> str:
    """A directory name for a repository key (a configured name or a checkout's path)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", repo).strip("-.")[-40:] or "repo"
    return f"{readable}-{hashlib.sha256(repo.encode()).hexdigest()[:12]}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _row(row: sqlite3.Row) -> Artifact:
    files = tuple(StoredFile(f["path"], int(f["size"]), f["sha256"])
                  for f in json.loads(row["files"]))
    return Artifact(row["id"], row["name"], row["trust"] == "trusted", row["branch"],
                    row["commit_id"], row["execution"], row["flow"],
                    dt.datetime.fromisoformat(row["created"]),
                    dt.datetime.fromisoformat(row["expires"]), files)


@dataclass(frozen=True)
class Publish:
    """Who publishes: the run's branch, commit, execution, flow and trust."""
    branch: str | None
    commit: str | None
    execution: str
    flow: str
    trusted: bool
    retention: dt.timedelta = DEFAULT_RETENTION


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self._ready = False  # WAL and the schema are in place (they persist in the file)

    @classmethod
    def for_repo(cls, data_dir: Path, repo: str) -> ArtifactStore:
        return cls(data_dir / STORE_DIR / repo_dir(repo))

    @contextlib.contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.root / "index.sqlite", timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            self._prepare(db)
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _prepare(self, db: sqlite3.Connection) -> None:
        """WAL and the schema, once per store. Switching the journal mode needs the file alone
        for a moment, and SQLite answers busy at once there instead of waiting: retried."""
        if self._ready:
            return
        use_wal(db, lambda db: db.executescript(_SCHEMA))
        self._ready = True

    # -- publishing -----------------------------------------------------------------------
    def staging(self) -> Path:
        """A new directory on the store's file system to copy a publish's files into."""
        folder = self.root / "staging" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def publish(self, name: str, staged: Mapping[str, Path], who: Publish) -> Artifact:
        """Store the staged files (relative path → a file under staging()) as one artifact."""
        check_name(name)
        if len(staged) > MAX_FILES:
            raise ArtifactError(f"an artifact holds at most {MAX_FILES} files, not {len(staged)}")
        files = tuple(StoredFile(safe_relative(rel), path.stat().st_size, _digest(path))
                      for rel, path in sorted(staged.items()))
        check_size(sum(f.size for f in files))
        created = _now()
        listing = json.dumps([{"path": f.path, "size": f.size, "sha256": f.digest}
                              for f in files])
        with self._db(write=True) as db:  # pending: prune keeps its blobs while it is written
            cursor = db.execute(
                "INSERT INTO artifacts (name, trust, branch, commit_id, execution, flow, created,"
                " expires, files) VALUES (?,?,?,?,?,?,?,?,?)",
                (name, "trusted" if who.trusted else "untrusted", who.branch, who.commit,
                 who.execution, who.flow, created.isoformat(),
                 (created + who.retention).isoformat(), listing))
            row_id = int(cursor.lastrowid or 0)
        for stored, (_, path) in zip(files, sorted(staged.items()), strict=True):
            blob = self._blob(stored.digest)
            if not blob.exists():
                blob.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, blob)  # atomic: a blob is whole or absent
        with self._db(write=True) as db:
            db.execute("UPDATE artifacts SET done = 1 WHERE id = ?", (row_id,))
        for folder in {p.parent for p in staged.values()}:
            shutil.rmtree(folder, ignore_errors=True)
        return Artifact(row_id, name, who.trusted, who.branch, who.commit, who.execution,
                        who.flow, created, created + who.retention, files)

    def _blob(self, digest: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ArtifactError(f"'{digest}' is not a SHA-256 digest")
        return self.blobs / digest[:2] / digest

    def blob(self, stored: StoredFile) -> Path:
        """The stored content of one file of an artifact."""
        path = self._blob(stored.digest)
        if not path.is_file():
            raise ArtifactError(f"the content of {stored.path} is missing from the store")
        return path

    # -- reading --------------------------------------------------------------------------
    def find(self, name: str, *, branch: str | None = None, execution: str | None = None,
             trusted_only: bool = True) -> Artifact | None:
        """The latest complete, unexpired publish of name on branch (or by execution);
        trusted_only: never one an untrusted run published."""
        check_name(name)
        where, args = ["name = ?", "done = 1", "expires > ?"], [name, _now().isoformat()]
        if execution is not None:
            where.append("execution = ?")
            args.append(execution)
        if branch is not None:
            where.append("branch = ?")
            args.append(branch)
        if trusted_only:
            where.append("trust = 'trusted'")
        with self._db() as db:
            row = db.execute(f"SELECT * FROM artifacts WHERE {' AND '.join(where)} "
                             "ORDER BY id DESC LIMIT 1", args).fetchone()
        return _row(row) if row is not None else None

    def list(self, name: str | None = None, branch: str | None = None,
             limit: int = 100) -> list[Artifact]:
        """Complete, unexpired publishes, newest first."""
        where, args = ["done = 1", "expires > ?"], [_now().isoformat()]
        for column, value in (("name", name), ("branch", branch)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if not (self.root / "index.sqlite").exists():
            return []
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM artifacts WHERE {' AND '.join(where)} "
                              "ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_row(r) for r in rows]

    def get(self, artifact_id: int) -> Artifact | None:
        """One complete, unexpired publish by its id."""
        if not (self.root / "index.sqlite").exists():
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM artifacts WHERE id = ? AND done = 1 AND expires > ?",
                             (artifact_id, _now().isoformat())).fetchone()
        return _row(row) if row is not None else None

    # -- retention ------------------------------------------------------------------------
    def prune(self, now: dt.datetime | None = None) -> int:
        """Drop expired publishes, abandoned (killed) ones and staged files, then every blob
        no publish refers to; the number of publishes dropped."""
        now = now or _now()
        if not (self.root / "index.sqlite").exists():
            return 0
        with self._db(write=True) as db:  # no publish starts while blobs are deleted
            dropped = db.execute(
                "DELETE FROM artifacts WHERE expires <= ? OR (done = 0 AND created <= ?)",
                (now.isoformat(), (now - ABANDONED).isoformat())).rowcount
            kept = {f["sha256"] for (files,) in db.execute("SELECT files FROM artifacts")
                    for f in json.loads(files)}
            for blob in list(self.blobs.glob("*/*")):
                if blob.name not in kept:
                    blob.unlink(missing_ok=True)
        cutoff = (now - ABANDONED).timestamp()
        for folder in list((self.root / "staging").glob("*")):
            with contextlib.suppress(OSError):
                if folder.stat().st_mtime <= cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
        return int(dropped)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()
