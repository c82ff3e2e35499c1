"""Run a flow as it was at a commit: its `.flows/` and files from that commit's tree.

Used by `flows bisect` for commits that have no recorded run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runner.catalog import DirectoryFlows
from runner.engine import Engine
from runner.events import EventSink
from runner.executors import Executors
from runner.git.files import CheckoutFiles
from runner.git.repo import GitRepo

FLOWS_DIR = ".flows"


def run_at(repo: GitRepo, commit: str, flow_id: str, executors: Executors, sink: EventSink,
           data_dir: Path) -> str:
    """The final state of flow `namespace.id` run at commit ('SKIPPED' when it is not there)."""
    checkout = Path(tempfile.mkdtemp(prefix="gitflows-replay-"))
    try:
        repo.export(commit, checkout)
        flows = DirectoryFlows(checkout / FLOWS_DIR)
        namespace, _, name = flow_id.rpartition(".")
        flow = flows.get(namespace, name)
        if flow is None:
            return "SKIPPED"
        engine = Engine(executors, sink, namespace_files=CheckoutFiles(checkout), flows=flows,
                        data_dir=data_dir)
        return str(engine.run(flow).state.current)
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
