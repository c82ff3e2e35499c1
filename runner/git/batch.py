"""Many commits at once: what a burst of pushes needs from git in two processes, not ten
a push — one `git cat-file --batch` (is each commit here, its message, the tree of a folder
at it) and one `git diff-tree --stdin` (the changed paths of every before..after pair).

The answers are the ones runner.git.diff gives one at a time: the same message as `git show
-s --format=%B` (a commit whose message is in another encoding than UTF-8 is left to it), the
same paths as `git diff --name-only --no-renames` between two commits. Commit ids come from
payloads: anything but a hexadecimal id is never sent to git here (the caller asks diff.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from runner.git.repo import GitRepo, git

_ID = re.compile(r"[0-9a-fA-F]{4,64}")


def is_id(text: str | None) -> bool:
    """A (possibly abbreviated) hexadecimal object id: safe on a --batch/--stdin line."""
    return text is not None and _ID.fullmatch(text) is not None


@dataclass(frozen=True)
class CommitInfo:
    commit: str  # the full id of the commit the name peels to
    message: str | None  # None: not UTF-8 (an `encoding` header), ask git show
    tree: str | None  # the id of the folder asked for at this commit; None: no such tree


def _batch_queries(ids: list[str], folder: str) -> bytes:
    return "".join(f"{i}^{{commit}}\n{i}^{{commit}}:{folder}\n" for i in ids).encode()


def _message(raw: bytes) -> str | None:
    head, sep, body = raw.partition(b"\n\n")
    for line in head.split(b"\n"):
        if line.startswith(b"encoding ") and line[9:].strip().lower() not in (b"utf-8", b"utf8"):
            return None
    return body.decode("utf-8", "replace").rstrip("\n") if sep else ""


def read_commits(repo: GitRepo, ids: Iterable[str], folder: str) -> dict[str, CommitInfo]:
    """name → what is known of the commit it names, for the ids that name a commit here
    (missing ones are left out). One `git cat-file --batch` for all of them."""
    wanted = sorted({i for i in ids if is_id(i)})
    if not wanted:
        return {}
    out = git(repo.path, "cat-file", "--batch", input_bytes=_batch_queries(wanted, folder)).stdout
    found: dict[str, CommitInfo] = {}
    position = 0
    for name in wanted:
        commit, position = _object(out, position)
        tree, position = _object(out, position)
        if commit is not None and commit[1] == "commit":
            found[name] = CommitInfo(commit[0], _message(commit[2]),
                                     tree[0] if tree is not None and tree[1] == "tree" else None)
    return found


def _object(out: bytes, position: int) -> tuple[tuple[str, str, bytes] | None, int]:
    """One answer of cat-file --batch at position: ((id, type, content) or None, next)."""
    end = out.index(b"\n", position)
    fields = out[position:end].decode("utf-8", "surrogateescape").split(" ")
    if len(fields) != 3 or not fields[2].isdigit():  # "<name> missing" / "ambiguous"
        return None, end + 1
    size = int(fields[2])
    return (fields[0], fields[1], out[end + 1:end + 1 + size]), end + 1 + size + 1


def changed_between(repo: GitRepo, pairs: Iterable[tuple[str, str]]
                    ) -> dict[tuple[str, str], tuple[str, ...]]:
    """(old, new) full commit ids → the paths `git diff old new` names (sorted, unique;
    renames as two paths). One `git diff-tree --stdin` for every pair."""
    wanted = list(dict.fromkeys((old, new) for old, new in pairs if is_id(old) and is_id(new)))
    if not wanted:
        return {}
    # "new old": new compared with old as if old were its parent; --always: a header even
    # for an empty diff, so every line of input has its answer
    out = git(repo.path, "diff-tree", "-r", "-z", "--raw", "--no-renames", "--always",
              "--ignore-submodules=none", "--no-ext-diff", "--stdin",
              input_bytes="".join(f"{new} {old}\n" for old, new in wanted).encode()).stdout
    fields = out.split(b"\0")
    answers: list[set[str]] = []
    index = 0
    while index < len(fields):
        field = fields[index]
        if field.startswith(b":"):  # a raw entry, its path next (one path: no renames)
            answers[-1].add(fields[index + 1].decode("utf-8", "surrogateescape"))
            index += 2
            continue
        if field:  # the header of the next pair's answer: its commit id
            answers.append(set())
        index += 1
    if len(answers) != len(wanted):
        raise ValueError(f"git diff-tree answered {len(answers)} of {len(wanted)} pairs")
    return {pair: tuple(sorted(paths)) for pair, paths in zip(wanted, answers, strict=True)}
