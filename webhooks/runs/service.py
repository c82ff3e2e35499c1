"""FlowService: the server's core, without HTTP — the parts it is made of, built together.

Each part owns one thing, and every user takes the part it needs:
- `repos` (Repositories): the served repositories, their mirrors, tokens and run histories;
- `catalog` (FlowCatalog): the flows at a commit or branch, and their source;
- `history_views` (HistoryViews): the recorded runs, as the API answers them;
- `intake` (Intake): the inbox of deliveries, the durable run queue, the scale-out broker;
- `registry` (RunRegistry): the executions this server knows, their logs, their groups;
- `runs` (RunStarter): starting runs through RunSession, killing and resuming them.

Flows come from `.flows/` at the commit a run is for, and the run's namespace files are that
commit's tree, so a run can be reproduced from its commit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from runner.executors import Executors
from runner.secrets import Secrets
from webhooks.config import ServerConfig
from webhooks.runs.catalog import FLOWS_DIR, FlowCatalog, HistoryViews
from webhooks.runs.intake import Intake
from webhooks.runs.records import FlowAtCommit, NotFoundError, Record, RunBroker
from webhooks.runs.registry import RunRegistry
from webhooks.runs.repos import Repositories
from webhooks.runs.starter import RunStarter

__all__ = ["FLOWS_DIR", "FlowAtCommit", "FlowService", "NotFoundError", "Record", "RunBroker"]


class FlowService:
    def __init__(self, config: ServerConfig, executors: Executors,
                 environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.executors = executors
        self.environ = dict(os.environ if environ is None else environ)
        self.secrets = Secrets(self.environ)
        self.repos = Repositories(config, self.environ)
        self.catalog = FlowCatalog(self.repos)
        self.history_views = HistoryViews(self.repos)
        self.intake = Intake(config.data_dir)
        self.registry = RunRegistry()
        self.runs = RunStarter(self.repos, self.catalog, self.registry, self.intake,
                               executors, self.secrets)

    def close(self) -> None:
        """Stop: kill running executions (their queued runs are taken over after a restart)."""
        self.runs.close()
