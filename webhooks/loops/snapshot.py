"""What the dispatcher needs from git for a batch of deliveries, asked once per repository and
batch rather than once per delivery: the current branch, whether each pushed commit is here
(with its message and its `.flows` tree), and the changed paths of every plain push.

Answers are the ones runner.git.diff gives one delivery at a time; what the batch cannot
answer the same way (new branches, pull requests, ids that are not hexadecimal, messages
not in UTF-8) is asked of diff.py as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.forges.event import PullRequest, Push
from runner.git.batch import CommitInfo, changed_between, is_id, read_commits
from runner.git.diff import changed_paths, head_message, is_zero
from runner.git.repo import GitRepo
from webhooks.runs.catalog import FLOWS_DIR
from webhooks.runs.repos import Repositories


@dataclass
class RepoSnapshot:
    git: GitRepo
    default_branch: str | None
    commits: dict[str, CommitInfo] = field(default_factory=dict)
    paths: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def commit(self, name: str) -> CommitInfo | None:
        """The commit a payload's id names, when the batch read it (None: ask git)."""
        return self.commits.get(name) if is_id(name) else None

    def missing(self, name: str) -> bool:
        """The batch looked for this id and it is not here."""
        return is_id(name) and name not in self.commits

    def push_paths(self, event: Push) -> tuple[str, ...] | None:
        """changed_paths() of a push, from the batch's diff when it has one."""
        if is_zero(event.after):
            return ()
        if self.missing(event.after) or (not is_zero(event.before) and self.missing(event.before)):
            return None
        after, before = self.commit(event.after), self.commit(event.before or "")
        if after is not None and before is not None:
            return self.paths[(before.commit, after.commit)]
        return changed_paths(self.git, event.before, event.after,
                             default_branch=self.default_branch)

    def message(self, commit: str, reported: str | None = None) -> str | None:
        """head_message() of a commit: git's, the payload's when the commit is not here."""
        if self.missing(commit):
            return reported
        info = self.commit(commit)
        if info is not None and info.message is not None:
            return info.message
        return head_message(self.git, commit, reported)


def _needs_fetch(events: list[Any], commits: dict[str, CommitInfo]) -> bool:
    """A mirror is fetched unless every event is a push between two commits already here
    (those read no ref: a fetch would change nothing they see)."""
    for event in events:
        if not isinstance(event, Push):
            return True
        if event.deleted:
            continue
        if is_zero(event.before) or not {event.before, event.after} <= commits.keys():
            return True
    return False


def snapshot(repos: Repositories, name: str, events: list[Any]) -> RepoSnapshot:
    """One repository's answers for the events of a batch (fetching its mirror when needed)."""
    git = repos[name]
    pushes = [e for e in events if isinstance(e, Push) and not e.deleted]
    ids = [e.after for e in pushes] + [e.before for e in pushes if not is_zero(e.before)]
    ids += [e.head_sha for e in events if isinstance(e, PullRequest)]
    commits = read_commits(git, ids, FLOWS_DIR)
    if name in repos.mirrors and _needs_fetch(events, commits):
        repos.refresh(name)
        commits = read_commits(git, ids, FLOWS_DIR)
    pairs = [(commits[e.before].commit, commits[e.after].commit) for e in pushes
             if e.before in commits and e.after in commits]
    return RepoSnapshot(git, git.current_branch(), commits, changed_between(git, pairs))
