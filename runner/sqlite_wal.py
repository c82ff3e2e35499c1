"""SQLite files several threads and processes share: WAL mode, set once per file.

Switching a file to WAL needs it alone for a moment, and there SQLite answers "database is
locked" at once instead of waiting out the busy timeout: a process that opens the file while
another one uses it must retry. Every shared file is set up through `use_wal`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

SETUP_SECONDS = 30.0
RETRY_SECONDS = 0.05


def use_wal(db: sqlite3.Connection, then: Callable[[sqlite3.Connection], object] | None = None,
            *, seconds: float = SETUP_SECONDS) -> None:
    """Put db's file in WAL mode (it persists in the file), then run `then` (e.g. the schema),
    both retried while another connection holds the file, for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            if then is not None:
                then(db)
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(RETRY_SECONDS)
