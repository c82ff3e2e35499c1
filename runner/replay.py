"""Run a flow as it was at a commit: its `.flows/` and files from that commit's tree.

Used by `flows bisect` for commits that have no recorded run; the run is built by the
face's RunSession like any other, and recorded in the history under that commit (trigger
`bisect`), so a later bisect reads it instead of running the commit again.
"""

from __future__ import annotations

import difflib
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

from runner.errors import UsageError
from runner.events import EventSink
from runner.git.repo import GitRepo
from runner.history.records import RunFilter
from runner.history.store import Store
from runner.language.catalog import DirectoryFlows
from runner.session import RunRequest, RunSession

FLOWS_DIR = ".flows"


def run_at(repo: GitRepo, commit: str, flow_id: str, session: RunSession,
           sinks: Sequence[EventSink] = ()) -> str:
    """The final state of flow `namespace.id` run at commit ('SKIPPED' when it is not there)."""
    checkout = Path(tempfile.mkdtemp(prefix="gitflows-replay-"))
    try:
        repo.export(commit, checkout)
        flows = DirectoryFlows(checkout / FLOWS_DIR)
        namespace, _, name = flow_id.rpartition(".")
        flow = flows.get(namespace, name)
        if flow is None:
            return "SKIPPED"
        return str(session.run(RunRequest(flow, checkout, flows, sinks=tuple(sinks)))
                   .state.current)
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


def run_and_record(repo: GitRepo, store: Store, commit: str, flow_id: str, session: RunSession,
                   ref: str | None) -> tuple[str, list[str]]:
    """run_at, recorded in the history of commit: (final state, problems writing history)."""
    from runner.history.recorder import HistoryRecorder

    recorder = HistoryRecorder(store, commit, ref, "bisect", f"flows bisect@{socket.gethostname()}")
    state = run_at(repo, commit, flow_id, session, sinks=(recorder,))
    return state, list(recorder.errors)


def known_flows(root: Path, store: Store) -> set[str]:
    """The flows (`namespace.id`) bisect can look for: those in the work tree's `.flows/`
    and those with a recorded run."""
    names = set(DirectoryFlows(root / FLOWS_DIR).all())
    names.update(summary.flow for summary in store.runs(RunFilter(limit=None)))
    return names


def check_flow(flow_id: str, known: set[str]) -> None:
    """A usage error naming flow_id (and the closest known names) when it is not known."""
    if flow_id in known:
        return
    close = difflib.get_close_matches(flow_id, sorted(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        f"; known flows: {', '.join(sorted(known)[:10])}" if known else \
        f" (no flows in {FLOWS_DIR}/ and none in the history)"
    raise UsageError(f"unknown flow '{flow_id}' (give namespace.id){hint}")
