"""Bare mirrors of remote repositories, kept under the data dir and fetched on demand.

Credentials come from the environment and travel as an HTTP header given to git on
the command line of the fetch only: never written to the mirror's config, never logged.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from runner.git.repo import git

_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[^/\s]+@[^/\s]+:)", re.IGNORECASE)


def is_remote(location: str) -> bool:
    """Clone URLs (https://, ssh://, file://, git@host:path) as opposed to local paths."""
    return bool(_URL.match(location))


def mirror_path(root: Path, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "repo"
    return root / f"{safe}.git"


def _auth(token: str | None) -> list[str]:
    if not token:
        return []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return ["-c", f"http.extraHeader=Authorization: Basic {basic}"]


def _git(args: list[str], token: str | None, cwd: Path | None = None) -> None:
    git(cwd, *_auth(token), *args, env={"GIT_TERMINAL_PROMPT": "0"}, inherit_env=False,
        hide=(token,) if token else ())


def ensure_mirror(url: str, path: Path, token: str | None = None) -> Path:
    """Clone url as a bare mirror at path unless it is there already; return path."""
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(["clone", "--mirror", "--quiet", url, str(path)], token)
    return path


def fetch(path: Path, token: str | None = None) -> None:
    """Bring the mirror up to date with its remote (all refs, pruned)."""
    _git(["fetch", "--prune", "--quiet", "origin"], token, cwd=path)


def fetch_commit(path: Path, commit: str, token: str | None = None) -> None:
    """Fetch one commit's objects into the mirror; refs (notes included) stay untouched."""
    _git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin", commit], token, cwd=path)


def push(path: Path, url: str, commit: str, ref: str, token: str | None = None) -> None:
    """Push commit to ref of the repository at url, fast-forward only (no force): GitError
    when the remote refuses. The URL, not the mirror's origin, so `remote.origin.mirror`
    does not turn it into a push of every ref."""
    _git(["push", "--quiet", url, f"{commit}:{ref}"], token, cwd=path)
