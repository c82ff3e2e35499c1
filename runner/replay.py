"""Run a flow as it was at a commit: its `.flows/` and files from that commit's tree.

Used by `flows bisect` for commits that have no recorded run; the run is built by the
face's RunSession like any other.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runner.catalog import DirectoryFlows
from runner.git.repo import GitRepo
from runner.session import RunRequest, RunSession

FLOWS_DIR = ".flows"


def run_at(repo: GitRepo, commit: str, flow_id: str, session: RunSession) -> str:
    """The final state of flow `namespace.id` run at commit ('SKIPPED' when it is not there)."""
    checkout = Path(tempfile.mkdtemp(prefix="gitflows-replay-"))
    try:
        repo.export(commit, checkout)
        flows = DirectoryFlows(checkout / FLOWS_DIR)
        namespace, _, name = flow_id.rpartition(".")
        flow = flows.get(namespace, name)
        if flow is None:
            return "SKIPPED"
        return str(session.run(RunRequest(flow, checkout, flows)).state.current)
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
