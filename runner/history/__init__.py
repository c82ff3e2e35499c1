"""Run history kept in the repository: git notes (`refs/notes/flows`) plus a logs ref.

- records.py   event lines, run summaries, filters (pure)
- store.py     the Store protocol and MemoryStore
- notes.py     NotesStore (git notes via gitstore.py, the only pygit2 user)
- index.py     SQLite read index, rebuilt from the notes
- recorder.py  HistoryRecorder, the EventSink that records runs
- merge.py / sync.py   cat_sort_uniq merge, push/pull between clones
- query.py     data + text behind `flows history | show | logs`
- bisect.py    first failing commit from recorded history
"""

from runner.history.records import (
    LOGS_REF,
    NOTES_REF,
    HistoryError,
    HistoryEvent,
    PruneResult,
    RunFilter,
    RunSummary,
)
from runner.history.store import MemoryStore, Store

__all__ = ["LOGS_REF", "NOTES_REF", "HistoryError", "HistoryEvent", "MemoryStore", "PruneResult",
           "RunFilter", "RunSummary", "Store"]
