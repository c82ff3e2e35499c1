"""The intent of a save in progress, so a save cut off by kill -9 is finished or undone.

Moving a checked-out branch and updating its work tree are two steps (runner.git.commit_file);
the intent (<git common dir>/gitflows-save.json) is written before the first and removed after
the second. `recover`, at server start and before each save, finishes the work tree update it
finds cut off, or puts the branch back when the work tree was edited since.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from runner.git.repo import git, git_text, tree_entry

JOURNAL = "gitflows-save.json"


def pause_for_tests(stage: str) -> None:
    """Tests only: sleep at a crash window (GITFLOWS_TEST_PAUSE_<STAGE>=seconds) so a test can
    kill -9 the server exactly there. Unset in real use."""
    delay = os.environ.get(f"GITFLOWS_TEST_PAUSE_{stage}")
    if delay:
        time.sleep(float(delay))


def save_journal(repo: Path) -> Path:
    common = Path(git_text(repo, "rev-parse", "--git-common-dir"))
    return (common if common.is_absolute() else repo / common) / JOURNAL


def write_intent(path: Path, intent: dict[str, str]) -> None:
    """Written whole or not at all (rename), on disk before the branch moves (fsync)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        json.dump(intent, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def recover(repo: Path) -> str | None:
    """Finish or undo a save cut off between moving a checked-out branch and updating its
    work tree (the server was killed); what was done, None when there was nothing to do."""
    journal = save_journal(repo)
    try:
        intent = json.loads(journal.read_text(encoding="utf-8"))
        ref, worktree, old, new = (str(intent[k]) for k in ("ref", "worktree", "old", "new"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)  # torn or foreign: nothing can be told from it
        return None
    if intent.get("writer") not in (None, process_id(os.getpid())):
        _drop_stale_lock(Path(worktree), journal)
    done = _finish(repo, ref, Path(worktree), old, new)
    journal.unlink(missing_ok=True)
    return done


def process_id(pid: int) -> str:
    """pid and start time: a recycled pid is not taken for the process that wrote an intent."""
    try:
        started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = "?"
    return f"{pid}:{started}"


def _drop_stale_lock(worktree: Path, journal: Path) -> None:
    """An index.lock newer than the intent of a dead writer is its cut-off `read-tree`'s."""
    writer = json.loads(journal.read_text(encoding="utf-8")).get("writer", "")
    pid = str(writer).partition(":")[0]
    if pid.isdigit() and process_id(int(pid)) == writer:
        return  # the writer still runs (another server): its lock is live
    found = git(worktree, "rev-parse", "--git-path", "index.lock", check=False)
    lock = Path(found.stdout.decode().strip())
    lock = lock if lock.is_absolute() else worktree / lock
    try:
        if lock.stat().st_mtime >= journal.stat().st_mtime:
            lock.unlink()
    except OSError:
        pass


def _finish(repo: Path, ref: str, worktree: Path, old: str, new: str) -> str | None:
    found = git(repo, "rev-parse", "--verify", "--quiet", ref, check=False)
    head = found.stdout.decode().strip() if found.returncode == 0 else None
    if head != new or not worktree.is_dir():
        return None  # the branch never moved, or moved on since: the work tree is not ours
    if git(worktree, "diff-index", "--cached", "--quiet", new, "--", check=False).returncode == 0:
        return None  # the work tree was updated; only the intent was left
    if git(worktree, "diff-index", "--cached", "--quiet", old, "--", check=False).returncode != 0:
        return None  # its index holds other changes: the usual dirty check speaks for them
    if _only_ours(worktree, old, new):
        git(worktree, "read-tree", "--reset", "-u", new)
        return f"updated {worktree} to {ref} at {new[:10]} (a save was cut off)"
    # edited since: undo the save rather than overwrite or revert those edits
    git(repo, "update-ref", "-m", "gitflows: undo a save cut off", ref, old, new, check=False)
    return f"moved {ref} back to {old[:10]}: {worktree} changed after a save was cut off"


def _only_ours(worktree: Path, old: str, new: str) -> bool:
    """Every file of the save's diff is as at old or as at new (a read-tree cut off half-way),
    and nothing else in the work tree differs from old."""
    changed = set(git_text(worktree, "diff", "--name-only", "-z", old, new).split("\0")) - {""}
    dirty = set(git_text(worktree, "diff", "--name-only", "-z", old, "--").split("\0")) - {""}
    if not dirty <= changed:
        return False
    for path in changed:
        target = tree_entry(worktree, new, path)
        file = worktree / path
        if not file.is_file():
            continue  # missing: as at new, or (as at old) deleted by the cut-off update
        blob = git_text(worktree, "hash-object", "--", path)
        before = tree_entry(worktree, old, path)
        if blob not in ((target or ("", ""))[1], (before or ("", ""))[1]):
            return False
    return True
