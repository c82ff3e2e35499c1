"""NotesStore: run history in the repository itself, as git notes (`refs/notes/flows`).

Layout:
- `refs/notes/flows`: a notes commit chain (like `git notes`); the note of a
  commit is JSON Lines of events (records.py), sorted and unique. Plain git
  reads it: `git log --notes=flows`, `git notes --ref=flows show <commit>`.
- `refs/flows/logs`: a commit without parents whose tree holds one directory
  per run, `<last two chars of the run id>/<run id>/` with two blobs: `log` (the
  run's log text, capped) and `run.json` (task runs, attempts, state timelines,
  outputs). The final event's `log` field is the id of that run directory, so
  `git show <log>:log` prints the log. Each write replaces the commit (no
  history), so pruned logs become unreachable and `git gc` reclaims them.

Every write happens under the writers' lock (locking.py) and lands with a
compare-and-swap of the ref; a lost race re-reads the tip and redoes the change.
Appends rewrite only the fanout directories on the note's path (gitstore.py).
Appends that queue up while another thread of this store is writing are landed
together: the next writer takes every queued append into one notes commit (one
ref update), and each caller returns once its events are in the ref.
Reads go through a SQLite run index (index.py) that catches up from the tree
diff since the tip it last saw. A long catch-up (the first read of a clone with a
large history) reports its progress to the store's `progress` callback.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner.group_commit import GroupCommit
from runner.history.gitstore import TREE, Git
from runner.history.index import RunIndex, RunSearch
from runner.history.locking import WriterLock
from runner.history.records import (
    LOGS_REF,
    NOTES_REF,
    HistoryError,
    HistoryEvent,
    PruneResult,
    RunFilter,
    RunSummary,
    as_lines,
    detail_json,
    events_of,
    note_lines,
    run_of_line,
    summarize_note,
    union_lines,
)
from runner.history.store import check_commit, select_pruned, without_runs

Change = Callable[[str | None, str | None], tuple[str, list[str], str] | None]
Progress = Callable[[int, int], None]  # (notes read so far, notes to read)

PROGRESS_EVERY = 5000  # notes: a catch-up this long reports at 0, each multiple, and the end

NOTES_MESSAGE = "Notes added by 'gitflows'\n"
LOGS_MESSAGE = "gitflows run logs\n"


def log_path(run: str) -> str:
    """Where a run's log directory lives in the logs tree (ULIDs end in random digits)."""
    return f"{run[-2:]}/{run}"


def default_index_path(repo: Path | str) -> Path:
    """A persistent run index inside the repository's git dir (survives across CLI calls)."""
    return Git(repo).common_dir / "gitflows" / "history-index.sqlite"


def _append_failed(error: BaseException) -> HistoryError:
    return HistoryError(f"appending to the history failed: {error}")


class NotesStore:
    def __init__(self, repo: Path | str, *, index: Path | None = None,
                 progress: Progress | None = None) -> None:
        """index: SQLite file for the run index; None keeps it in memory for this store.
        progress(read, total): called through a catch-up of PROGRESS_EVERY notes or more."""
        self.git = Git(repo)
        self.progress = progress
        self.lock = WriterLock(self.git.common_dir / "gitflows" / "history.lock")
        self._guard = threading.RLock()  # libgit2 objects are not thread-safe
        # Catching the index up reads through a handle of its own, one catch-up at a time: a
        # long one (a clone's first read) never holds up the writers, which use self.git
        self._repo = repo
        self._reader: Git | None = None
        self._catching = threading.Lock()
        self._index = RunIndex(index, source=f"{self.git.common_dir}:{NOTES_REF}")
        self._appends = GroupCommit(self._land, _append_failed)
        self._inside = threading.local()  # this thread holds writing()

    # -- writes ------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[Git]:
        with self.lock.hold(), self._guard:
            depth = getattr(self._inside, "depth", 0)
            self._inside.depth = depth + 1
            try:
                yield self.git
            finally:
                self._inside.depth = depth

    def move(self, ref: str, change: Change, attempts: int = 200) -> str | None:
        """Apply change(tip, tree) → (new tree, parents, message) with CAS, redoing on a race.

        Returns the new tip (the old one when change has nothing to do). Hold writing().
        """
        for attempt in range(attempts):
            tip = self.git.ref(ref)
            result = change(tip, self.git.tree_of(tip))
            if result is None:
                return tip
            tree, parents, message = result
            new = self.git.write_commit(tree, parents, message)
            if self.git.cas(ref, new, tip, message.strip()):
                return new
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise HistoryError(f"gave up updating {ref}: too many concurrent writers")

    def append(self, commit: str, events: Sequence[HistoryEvent | bytes]) -> None:
        self.append_many({commit: events})

    def append_many(self, notes: Mapping[str, Iterable[HistoryEvent | bytes]]) -> None:
        """Add events to notes; returns once they are in the notes ref.

        Calls from several threads at once share one notes commit: the first lands its
        own events and leaves; those that queued meanwhile are landed by the next one.
        """
        wanted = {commit: as_lines(events) for commit, events in notes.items()}
        for commit in wanted:
            check_commit(commit)  # before queueing: a bad call must not fail the others
        wanted = {commit: lines for commit, lines in wanted.items() if lines}
        if not wanted:
            return
        if getattr(self._inside, "depth", 0):  # under writing(): waiting on others could deadlock
            self._land([wanted])
        else:
            self._appends.submit(wanted)

    def _land(self, batch: list[dict[str, set[bytes]]]) -> list[None]:
        """One notes commit with the events of every queued call."""
        wanted: dict[str, set[bytes]] = {}
        for lines_of in batch:
            for commit, lines in lines_of.items():
                wanted.setdefault(commit, set()).update(lines)

        def change(tip: str | None, tree: str | None) -> tuple[str, list[str], str] | None:
            contents: dict[str, bytes] = {}
            for commit, lines in wanted.items():
                old = [self.git.blob(b) or b"" for b in self.git.note_blobs(tree, commit)]
                content = union_lines(*old, lines)
                if len(old) != 1 or old[0] != content:
                    contents[commit] = content
            if not contents:
                return None
            blobs = self.git.write_blobs(list(contents.values()))
            edits: dict[str, str | None] = dict(zip(contents, blobs, strict=True))
            return self.git.edit_notes(tree, edits), [tip] if tip else [], NOTES_MESSAGE

        with self.writing():
            self.move(NOTES_REF, change)
        return [None] * len(batch)

    def write_log(self, run_id: str, text: str, detail: Mapping[str, Any]) -> str:
        with self._guard:
            run_tree = self.git.write_files({"log": text.encode("utf-8", "surrogateescape"),
                                             "run.json": detail_json(detail)})
        path = log_path(run_id)

        def change(tip: str | None, tree: str | None) -> tuple[str, list[str], str] | None:
            if self.git.entry_id(tree, path) == run_tree:
                return None
            return self.git.edit_paths(tree, {path: (run_tree, TREE)}), [], LOGS_MESSAGE

        with self.writing():
            self.move(LOGS_REF, change)
        return run_tree

    def prune(self, keep_days: float | None = None, keep_runs: int | None = None, *,
              now: dt.datetime | None = None) -> PruneResult:
        with self.writing():
            dropped = select_pruned(self.runs(RunFilter(limit=None)), keep_days, keep_runs, now)
            runs = {s.run for s in dropped}
            commits = sorted({s.commit for s in dropped})
            if not runs:
                return PruneResult(0, 0, 0)

            def notes(tip: str | None, tree: str | None) -> tuple[str, list[str], str] | None:
                edits: dict[str, str | None] = {}
                for commit in commits:
                    old = [self.git.blob(b) or b"" for b in self.git.note_blobs(tree, commit)]
                    left = without_runs(union_lines(*old), runs)
                    edits[commit] = None if left is None else self.git.write_blob(left)
                return (self.git.edit_notes(tree, edits), [tip] if tip else [],
                        "Notes removed by 'gitflows prune'\n")

            logs_count = 0

            def logs(tip: str | None, tree: str | None) -> tuple[str, list[str], str] | None:
                nonlocal logs_count
                paths = [log_path(r) for r in runs if self.git.entry_id(tree, log_path(r))]
                logs_count = len(paths)
                if not paths:
                    return None
                return (self.git.edit_paths(tree, dict.fromkeys(paths)), [],
                        "gitflows run logs (pruned)\n")

            self.move(NOTES_REF, notes)
            self.move(LOGS_REF, logs)
        return PruneResult(runs=len(runs), notes=len(commits), logs=logs_count)

    # -- reads -------------------------------------------------------------------
    def catch_up(self) -> None:
        """Bring the run index to the current notes tip (parsing only changed notes)."""
        with self._catching:
            git = self._reader = self._reader or Git(self._repo)
            for _ in range(20):
                tip = git.ref(NOTES_REF)
                seen = self._index.tip()
                if tip == seen:
                    return
                old_tree = git.tree_of(seen)
                reset = seen is not None and old_tree is None
                changed = git.diff_notes(old_tree, git.tree_of(tip))
                report = self.progress if len(changed) >= PROGRESS_EVERY else None
                upserts, deletes = self._index_changes(git, changed, report)
                if self._index.update(seen, tip, upserts, deletes, reset):
                    if report is not None:
                        report(len(changed), len(changed))
                    return
        raise HistoryError("the run index keeps moving; try again")

    @staticmethod
    def _index_changes(git: Git, changed: Mapping[str, tuple[str | None, str | None]],
                       report: Progress | None) -> tuple[list[RunSummary], set[str]]:
        """The index rows of changed notes (object → old, new blob), and the runs gone."""
        upserts: list[RunSummary] = []
        deletes: set[str] = set()
        for read, (commit, (old_blob, new_blob)) in enumerate(changed.items()):
            if report is not None and read % PROGRESS_EVERY == 0:
                report(read, len(changed))
            content = (git.blob(new_blob) or b"") if new_blob else b""
            if old_blob is None:  # a new note: every run in it
                upserts.extend(summarize_note(commit, content).values())
                continue
            before = note_lines(git.blob(old_blob) or b"")
            after = note_lines(content)
            touched = {run_of_line(line) for line in before ^ after} - {None}
            present = summarize_note(commit, content, {r for r in touched if r})
            upserts.extend(present.values())
            deletes |= {r for r in touched if r and r not in present}
        return upserts, deletes

    def runs(self, run_filter: RunFilter | None = None) -> list[RunSummary]:
        self.catch_up()
        return self._index.query(run_filter or RunFilter())

    def search(self, wanted: RunSearch) -> list[RunSummary]:
        """A page of runs by id, newest first (index.py RunIndex.search)."""
        self.catch_up()
        return self._index.search(wanted)

    def latest_per_flow(self, count: int) -> list[RunSummary]:
        """The newest `count` runs of each flow, from one index query."""
        self.catch_up()
        return self._index.latest_per_flow(count)

    def note(self, commit: str) -> bytes | None:
        """The note of a commit as stored (all fanout locations united)."""
        with self._guard:
            tree = self.git.tree_of(self.git.ref(NOTES_REF))
            blobs = self.git.note_blobs(tree, commit)
            if not blobs:
                return None
            contents = [self.git.blob(b) or b"" for b in blobs]
            return contents[0] if len(contents) == 1 else union_lines(*contents)

    def run(self, run_id: str) -> list[HistoryEvent]:
        self.catch_up()
        commit = self._index.locate(run_id)
        content = self.note(commit) if commit else None
        return events_of(content, run_id) if content else []

    def _run_file(self, run_id: str, name: str) -> bytes | None:
        events = self.run(run_id)
        pointers = [e.log for e in events if e.log]
        with self._guard:
            if pointers and self.git.exists(pointers[-1]):
                found = self.git.file_in(pointers[-1], name)
                if found is not None:
                    return found
            logs_tree = self.git.tree_of(self.git.ref(LOGS_REF))
            return self.git.file_in(logs_tree, f"{log_path(run_id)}/{name}") if logs_tree else None

    def logs(self, run_id: str) -> str | None:
        data = self._run_file(run_id, "log")
        return None if data is None else data.decode("utf-8", "replace")

    def detail(self, run_id: str) -> dict[str, Any] | None:
        data = self._run_file(run_id, "run.json")
        if data is None:
            return None
        value = json.loads(data)
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        self._index.close()
