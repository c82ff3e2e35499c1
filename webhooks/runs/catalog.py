"""What is there to run and what ran: the flows of the served repositories at a commit or
branch (FlowCatalog), and the recorded runs in their histories (HistoryViews)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from runner.diagnostics import Diagnostic
from runner.errors import GitflowsError
from runner.history import query
from runner.history.notes import NotesStore
from runner.language.parse import parse_flow
from runner.model import Flow
from webhooks.runs import recorded
from webhooks.runs.records import FlowAtCommit, NotFoundError
from webhooks.runs.repos import Repositories

FLOWS_DIR = ".flows"
PARSED_TREES = 64  # .flows trees whose parsed flows are kept (a burst of pushes shares one)
_Parsed = tuple[tuple[str, Flow | None, tuple[Diagnostic, ...]], ...]


class FlowCatalog:
    """Flows come from `.flows/` at the commit asked for (a branch's head by default)."""

    def __init__(self, repos: Repositories) -> None:
        self.repos = repos
        self._parsed: OrderedDict[tuple[str, str], _Parsed] = OrderedDict()
        self._lock = threading.Lock()

    def flows_in_tree(self, repo: str, commit: str, ref: str | None,
                      tree: str | None) -> list[FlowAtCommit]:
        """The flows of a repository at a commit whose `.flows` is the tree `tree` (None: it
        has none), as flows() finds them. Parsed once per tree id: a tree id names the content
        of every file under it, so a changed flow file is a new id, never a stale parse."""
        if tree is None:
            return []
        with self._lock:
            parsed = self._parsed.get((repo, tree))
            if parsed is not None:
                self._parsed.move_to_end((repo, tree))
        if parsed is None:
            files = self.repos[repo].files_at(commit, FLOWS_DIR)
            parsed = tuple((path, *_parsed(text, path)) for path, text in sorted(files.items()))
            with self._lock:
                self._parsed[(repo, tree)] = parsed
                while len(self._parsed) > PARSED_TREES:
                    self._parsed.popitem(last=False)
        return [FlowAtCommit(repo, commit, ref, path, flow, diagnostics)
                for path, flow, diagnostics in parsed]

    def flows(self, repo: str | None = None, ref: str | None = None) -> list[FlowAtCommit]:
        found = []
        for name, git in self.repos.items():
            if repo is not None and name != repo:
                continue
            commit = git.resolve(ref or "HEAD")
            branch = ref or git.current_branch()
            for path, text in sorted(git.files_at(commit, FLOWS_DIR).items()):
                flow, diagnostics = parse_flow(text, path)
                found.append(FlowAtCommit(name, commit, branch, path, flow, tuple(diagnostics)))
        return found

    def find(self, namespace: str, flow_id: str, repo: str | None = None,
             ref: str | None = None) -> tuple[FlowAtCommit, list[FlowAtCommit]]:
        """The flow, and every flow of its repository at that commit (subflows, triggers)."""
        snapshot = self.flows(repo, ref)
        matches = [f for f in snapshot if f.flow and f.flow.namespace == namespace
                   and f.flow.id == flow_id]
        if not matches:
            raise NotFoundError(f"flow {namespace}.{flow_id} not found"
                                + (f" in {repo}" if repo else "") + (f" at {ref}" if ref else ""))
        if len({m.repo for m in matches}) > 1:
            raise GitflowsError(f"flow {namespace}.{flow_id} exists in several repositories "
                                f"({', '.join(sorted({m.repo for m in matches}))}); add ?repo=NAME")
        return matches[0], [f for f in snapshot if f.repo == matches[0].repo]

    def source(self, namespace: str, flow_id: str, repo: str | None = None,
               ref: str | None = None) -> tuple[FlowAtCommit, str]:
        """A flow and its YAML text at the commit it was read from."""
        target, _ = self.find(namespace, flow_id, repo, ref)
        return target, self.text(target)

    def text(self, target: FlowAtCommit) -> str:
        """The YAML text of a flow file at the commit it was read from."""
        return self.repos[target.repo].files_at(target.commit, FLOWS_DIR)[target.file]


def _parsed(text: str, path: str) -> tuple[Flow | None, tuple[Diagnostic, ...]]:
    flow, diagnostics = parse_flow(text, path)
    return flow, tuple(diagnostics)


class HistoryViews:
    """Recorded runs (refs/notes/flows) of the served repositories, as the API answers them."""

    def __init__(self, repos: Repositories) -> None:
        self.repos = repos

    def rows(self, *, repo: str | None = None, flow: str | None = None,
             ref: str | None = None, state: str | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        """Recorded runs of the served repositories (all, or one), newest first."""
        rows: list[dict[str, Any]] = []
        for name in self.repos:
            if repo is None or name == repo:
                found = query.history(self.repos.history(name), flow=flow, ref=ref,
                                      state=state.upper() if state else None, limit=limit)
                rows += [{**row, "repo": name} for row in query.history_json(found)]
        rows.sort(key=lambda row: str(row.get("started") or ""), reverse=True)
        return rows[:limit]

    def run(self, run: str, repo: str | None = None) -> dict[str, Any]:
        """One recorded run (a unique prefix will do), searched in every served repository."""
        for name in self.repos:
            if repo is None or name == repo:
                try:
                    return {**query.show_json(query.show(self.repos.history(name), run)),
                            "repo": name}
                except query.UnknownRunError:
                    continue
        raise NotFoundError(f"no recorded run {run}")

    def execution(self, run: str, repo: str | None = None) -> dict[str, Any]:
        """A recorded run (a unique prefix will do) in the live execution API's shape, with
        `recorded` (where it came from) and its log lines (webhooks/runs/recorded.py)."""
        shown = self.run(run, repo)
        run_id = str(shown["run"])
        store = self.repos.history(str(shown["repo"]))
        return recorded.execution(shown, store.detail(run_id), store.logs(run_id))

    def exact(self, execution_id: str, *, lines: bool = False) -> dict[str, Any]:
        """The recorded run with this whole id (never a prefix: an execution id names one run)
        in the live execution API's shape; its log lines under `logs` only when asked."""
        shown, store = self._exact(execution_id)
        return recorded.execution(shown, store.detail(execution_id), store.logs(execution_id),
                                  lines=lines)

    def log_lines(self, execution_id: str) -> list[dict[str, Any]]:
        """The recorded log lines of the run with this whole id ([] when no log is stored)."""
        return recorded.log_lines(self._exact(execution_id)[1].logs(execution_id))

    def _exact(self, execution_id: str) -> tuple[dict[str, Any], NotesStore]:
        """The run's `show_json` (+ repo) and its repository's history; NotFoundError when
        no served repository recorded a run with this whole id."""
        if recorded.is_run_id(execution_id):  # else never recorded: nothing to look up
            try:
                shown = self.run(execution_id)
            except NotFoundError:
                shown = None
            if shown is not None and shown["run"] == execution_id:
                return shown, self.repos.history(str(shown["repo"]))
        raise NotFoundError(f"execution {execution_id[:40]} not found: this server does not "
                            "hold it and no served repository recorded it")
