"""Merging another clone's history into ours, with git's `cat_sort_uniq` semantics.

The notes merge follows `git notes merge -s cat_sort_uniq` step by step
(notes-merge.c): fast-forward when one side contains the other, else a
three-way merge from the merge base where, per note,
- only one side changed it: that side wins (a deletion included);
- both changed it differently: the union of their lines, sorted, unique
  (a note deleted on one side and changed on the other keeps the change);
and the result is a merge commit whose parents are (local, remote).

Logs are not merged wholesale: the remote's log directories are copied only for
runs that the merge brought into our notes, so a run pruned here does not come
back through the remote's logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.history.gitstore import TREE, Git
from runner.history.notes import LOGS_MESSAGE, NotesStore, log_path
from runner.history.records import LOGS_REF, NOTES_REF, HistoryError, note_lines, run_of_line, union_lines

MERGE_MESSAGE = "Notes merged by 'gitflows' (cat_sort_uniq)\n"


@dataclass(frozen=True)
class MergeResult:
    before: str | None  # our notes tip before
    after: str | None  # our notes tip after
    logs: int  # log directories copied from the remote


def merged_tree(git: Git, local: str, remote: str) -> str:
    """The notes tree of a three-way cat_sort_uniq merge of two notes commits."""
    base = git.merge_base(local, remote)
    base_tree = git.tree_of(base)
    local_tree = git.tree_of(local)
    remote_changes = git.diff_notes(base_tree, git.tree_of(remote))
    local_changes = git.diff_notes(base_tree, local_tree)
    edits: dict[str, str | None] = {}
    for obj, (base_blob, remote_blob) in remote_changes.items():
        local_blob = local_changes[obj][1] if obj in local_changes else base_blob
        if local_blob == remote_blob:
            continue
        if local_blob == base_blob or local_blob is None:
            edits[obj] = remote_blob  # no local change (or deleted here): adopt theirs
            continue
        ours = git.blob(local_blob) or b""
        theirs = (git.blob(remote_blob) or b"") if remote_blob else b""
        edits[obj] = git.write_blob(union_lines(ours, theirs))
    return git.edit_notes(local_tree, edits)


def merge_notes(store: NotesStore, remote: str) -> tuple[str | None, str | None]:
    """Merge the notes commit `remote` into our notes ref (CAS, redone on a race)."""
    git = store.git
    with store.writing():
        for _ in range(100):
            local = git.ref(NOTES_REF)
            if local == remote or (local is not None and git.is_ancestor(remote, local)):
                return local, local
            if local is None or git.is_ancestor(local, remote):
                new = remote  # fast-forward
            else:
                new = git.write_commit(merged_tree(git, local, remote), [local, remote],
                                       MERGE_MESSAGE)
            if git.cas(NOTES_REF, new, local, "notes: merged by gitflows"):
                return local, new
    raise HistoryError("gave up merging notes: too many concurrent writers")


def import_logs(store: NotesStore, before: str | None, after: str | None,
                remote_logs: str | None) -> int:
    """Copy the remote's log directories of runs that came in with a notes merge."""
    git = store.git
    if remote_logs is None or before == after:
        return 0
    with store.writing():
        remote_tree = git.tree_of(remote_logs)
        runs: set[str] = set()
        for _, (_, new_blob) in git.diff_notes(git.tree_of(before), git.tree_of(after)).items():
            if new_blob is not None:
                runs |= {r for r in map(run_of_line, note_lines(git.blob(new_blob) or b"")) if r}
        wanted = {}
        for run in runs:
            found = git.entry_id(remote_tree, log_path(run))
            if found is not None:
                wanted[log_path(run)] = found

        copied = 0

        def change(tip: str | None, tree: str | None) -> tuple[str, list[str], str] | None:
            nonlocal copied
            missing = {p: (i, TREE) for p, i in wanted.items() if git.entry_id(tree, p) is None}
            copied = len(missing)
            if not missing:
                return None
            return git.edit_paths(tree, missing), [], LOGS_MESSAGE

        store.move(LOGS_REF, change)
    return copied


def merge_remote(store: NotesStore, notes: str | None, logs: str | None) -> MergeResult:
    if notes is None:
        tip = store.git.ref(NOTES_REF)
        return MergeResult(tip, tip, 0)
    before, after = merge_notes(store, notes)
    return MergeResult(before, after, import_logs(store, before, after, logs))
