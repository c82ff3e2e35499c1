"""A repository seen through the git CLI: resolve refs, read files at a commit, export a tree.

Flows are read from the commit an event is for, never from the work tree, so a
run can be reproduced from its commit alone.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import GitflowsError
from runner.secrets import mask_text
from runner.yamlsource import LIMITS


class GitError(GitflowsError):
    """A git command failed; the message carries git's own words."""


MAX_FILE_READ = LIMITS.max_bytes  # a flow file's limit: more of a blob is never needed

# set by git hooks and wrappers: they would point `git -C repo` at another repository or index
_CLEAN_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
              "GIT_NAMESPACE", "GIT_PREFIX")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}


def git(repo: Path | None, *args: str, env: Mapping[str, str] | None = None,
        input_bytes: bytes | None = None, check: bool = True, inherit_env: bool = True,
        hide: Collection[str] = ()) -> subprocess.CompletedProcess[bytes]:
    """Run `git -C repo args` (no -C without a repo): the one way gitflows runs git. GitError
    with git's own words when it fails (and check), the `hide` values masked in them.
    `inherit_env=False` runs with `env` and a plain PATH only (no credential helpers' or
    hooks' variables: for fetching with a token); stdin is never the caller's."""
    where = ["-C", str(repo)] if repo is not None else []
    base = _clean_env() if inherit_env else {"PATH": "/usr/bin:/bin:/usr/local/bin"}
    stdin = subprocess.DEVNULL if input_bytes is None else None
    try:
        done = subprocess.run(["git", *where, *args], input=input_bytes, stdin=stdin,
                              capture_output=True, check=False, env={**base, **(env or {})})
    except OSError as err:
        raise GitError(f"cannot run git: {err.strerror}") from None
    if check and done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        shown = list(args)
        while shown[:1] == ["-c"]:  # configuration (an auth header) is never shown
            shown = shown[2:]
        place = f" in {repo}" if repo is not None else ""
        raise GitError(mask_text(f"git {' '.join(shown[:2])}{place}: {detail}", hide))
    return done


def git_text(repo: Path, *args: str) -> str:
    """A git command's output as stripped text (GitError when it fails)."""
    return git(repo, *args).stdout.decode().strip()


def tree_entry(repo: Path, commit: str, path: str) -> tuple[str, str] | None:
    """(mode, blob id) of path at commit, None when it is not there."""
    out = git(repo, "ls-tree", "-z", commit, "--", path).stdout.decode("utf-8", "surrogateescape")
    for item in out.split("\0"):
        meta, _, name = item.partition("\t")
        fields = meta.split()
        if name == path and len(fields) == 3:
            return fields[0], fields[2]
    return None


@dataclass(frozen=True)
class GitRepo:
    path: Path

    def _git(self, *args: str, input_bytes: bytes | None = None) -> bytes:
        return git(self.path, *args, input_bytes=input_bytes).stdout

    def resolve(self, ref: str = "HEAD") -> str:
        """The full commit id a ref (branch, tag, sha) points at."""
        return self._git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()

    def is_dirty(self, *, untracked: bool = True) -> bool:
        """Whether the work tree differs from HEAD (tracked, and untracked unless told not to;
        never ignored files)."""
        flags = () if untracked else ("--untracked-files=no",)
        return bool(self._git("status", "--porcelain", *flags).strip())

    def commits(self, ref: str, limit: int = 1000) -> list[str]:
        """Commits of ref's first-parent history, oldest first (at most limit)."""
        out = self._git("rev-list", "--first-parent", f"--max-count={limit}", ref)
        return list(reversed(out.decode().split()))

    def subject(self, commit: str) -> str:
        """The first line of commit's message."""
        return self._git("log", "-1", "--format=%s", commit, "--").decode(errors="replace").strip()

    def current_branch(self) -> str | None:
        try:
            name = self._git("symbolic-ref", "--quiet", "--short", "HEAD").decode().strip()
        except GitError:
            return None
        return name or None

    def refs(self, *prefixes: str) -> dict[str, str]:
        """ref name → commit id of every ref under the prefixes (e.g. refs/heads)."""
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", *prefixes)
        pairs = (line.split(" ", 1) for line in out.decode().splitlines() if " " in line)
        return {ref: sha for ref, sha in pairs}

    def files_at(self, commit: str, folder: str, max_bytes: int = MAX_FILE_READ) -> dict[str, str]:
        """path → text of every *.yml / *.yaml file under folder at commit. A blob over
        max_bytes is read only that far (plus one byte): flow parsing reports it too large,
        and a hostile commit cannot make every listing read a huge file."""
        listing = self._git("ls-tree", "-r", "-l", "-z", commit, "--", folder)
        blobs: list[tuple[str, str]] = []  # (object id, path)
        large: dict[str, str] = {}
        for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == "blob" and path.endswith((".yml", ".yaml")):
                if fields[3].isdigit() and int(fields[3]) > max_bytes:
                    large[path] = fields[2]
                else:
                    blobs.append((fields[2], path))
        files: dict[str, str] = {path: self._head_of(oid, max_bytes + 1)
                                 for path, oid in large.items()}
        if not blobs:
            return files
        # one `git cat-file --batch` for every file, not one process per file
        out = self._git("cat-file", "--batch",
                        input_bytes="".join(f"{oid}\n" for oid, _ in blobs).encode())
        position = 0
        for _, path in blobs:
            header_end = out.index(b"\n", position)
            size = int(out[position:header_end].split()[2])
            start = header_end + 1
            files[path] = out[start:start + size].decode("utf-8", "replace")
            position = start + size + 1  # the content is followed by a newline
        return dict(sorted(files.items()))

    def _head_of(self, oid: str, size: int) -> str:
        """The first size bytes of a blob, without reading the rest."""
        with subprocess.Popen(["git", "-C", str(self.path), "cat-file", "blob", oid],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=_clean_env()) as proc:
            assert proc.stdout is not None
            head = proc.stdout.read(size)
            proc.kill()
        return head.decode("utf-8", "ignore")

    def export(self, commit: str, dest: Path) -> None:
        """Write the tree of commit into dest (like a checkout without .git)."""
        dest.mkdir(parents=True, exist_ok=True)
        archive = dest / ".gitflows-export.tar"
        archive.write_bytes(self._git("archive", "--format=tar", commit))
        import tarfile  # exports only: not on every command's start

        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        archive.unlink()
