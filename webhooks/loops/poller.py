"""Poll mode (`flows serve --poll 60s`): for repositories that cannot send webhooks.

Each round fetches remote mirrors, lists branches, tags and pull-request refs, and
turns every moved ref into the same push event a webhook would carry, stored in the
durable inbox under a delivery id made of (repo, ref, before, after): a round that is
repeated after a crash stores nothing twice. The first round only records the refs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

from runner.errors import GitflowsError
from runner.sqlite_wal import use_wal
from webhooks.background import Background
from webhooks.runs.service import FlowService

log = logging.getLogger("gitflows.poll")
ZERO = "0" * 40
REFS = ("refs/heads", "refs/tags", "refs/pull")


class Poller(Background):
    name = "gitflows-poll"

    def __init__(self, service: FlowService, interval: float,
                 state_path: Path | None = None) -> None:
        super().__init__()
        self.service = service
        self.interval = interval
        self.db = sqlite3.connect(state_path or service.config.data_dir / "poll.sqlite3",
                                  check_same_thread=False, isolation_level=None)
        use_wal(self.db, lambda db: db.execute(
            "CREATE TABLE IF NOT EXISTS refs (repo TEXT, ref TEXT, sha TEXT, PRIMARY KEY (repo, ref))"))

    def round(self) -> bool:
        self.poll_once()
        return False  # then wait the interval

    def poll_once(self) -> int:
        """One round over every served repository; the number of events stored."""
        stored = 0
        for name in self.service.repos:
            try:
                self.service.repos.refresh(name)
                now = self.service.repos[name].refs(*REFS)
            except GitflowsError as err:
                log.error("%s: %s", name, err)
                continue
            known = dict(self.db.execute("SELECT ref, sha FROM refs WHERE repo = ?", (name,)))
            first_round = not known
            known.pop("", None)  # the row that marks an empty repository as seen is no ref
            if not first_round:
                for ref in sorted(set(known) | set(now)):
                    before, after = known.get(ref, ZERO), now.get(ref, ZERO)
                    if before != after and self._store(name, ref, before, after):
                        stored += 1
            with self.db:
                self.db.execute("DELETE FROM refs WHERE repo = ?", (name,))
                self.db.executemany("INSERT INTO refs VALUES (?, ?, ?)",
                                    [(name, ref, sha) for ref, sha in now.items()])
                if not now:  # remember that the repository was seen, even empty
                    self.db.execute("INSERT INTO refs VALUES (?, '', '')", (name,))
        if stored:
            self.service.intake.wake_dispatcher()
        return stored

    def _store(self, name: str, ref: str, before: str, after: str) -> bool:
        if ref.startswith("refs/pull/"):
            return False  # pull request refs: the provider's PR events carry base and head
        event = {"kind": "push", "repo": name, "ref": ref, "before": before, "after": after}
        delivery = f"poll:{name}:{ref}:{before}:{after}"
        return self.service.intake.inbox.accept("generic", delivery, {"x-delivery-id": delivery},
                                                json.dumps(event).encode())
