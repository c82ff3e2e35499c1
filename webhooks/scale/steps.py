"""Host steps a killed `flows worker` left running, stopped by the next worker on its data dir.

Each worker process records its running host steps under <data>/steps/<worker>/ and holds an
exclusive lock on <data>/steps/<worker>.lock for as long as it lives. A worker starting on the
same data dir takes every other lock it can get: their owners are dead (the kernel released the
lock with the process), so their recorded steps are killed before this worker consumes a run.
The runs themselves come back through the broker once the dead worker's heartbeat times out;
without this, the new attempt's step and the old one would do their side effects side by side.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from pathlib import Path
from typing import IO

from runner.executors.local import ProcessGroups

log = logging.getLogger("gitflows.worker")


def claim_steps(data_dir: Path, worker: str) -> tuple[ProcessGroups, IO[str]]:
    """This worker's step records, and the lock that says it is alive (keep it open)."""
    root = data_dir / "steps"
    root.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in worker)
    alive = (root / f"{name}.lock").open("w")
    fcntl.flock(alive, fcntl.LOCK_EX)  # a new name: nobody else holds it
    for other in sorted(root.glob("*.lock")):
        if other.stem != name:
            _stop_if_dead(root, other)
    return ProcessGroups(root / name), alive


def _stop_if_dead(root: Path, lock: Path) -> None:
    try:
        handle = lock.open("a")
    except OSError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its worker is alive
        folder = root / lock.stem
        groups = ProcessGroups(folder)
        killed = [pid for execution in _executions(folder) for pid in groups.kill(execution)]
        if killed:
            log.warning("killed the process groups %s of steps a dead worker (%s) left running",
                        killed, lock.stem)
        shutil.rmtree(folder, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _executions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
