"""Dispatcher: takes accepted deliveries out of the durable inbox and starts the runs
their events trigger, reading flows and changed paths at the event's commit.

A delivery is marked done only after its runs were started; a server killed in
between replays it when the lease expires (at-least-once dispatch).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from runner.ci.event import invalid_flow, report_invalid
from runner.forges.event import Ignored, Ping, PullRequest, Push
from runner.git.diff import changed_paths, head_message, pull_request_paths
from runner.triggers.git import GitEvent, matching_triggers, skipped_triggers
from webhooks.background import Background
from webhooks.ingress.receive import normalise_delivery
from webhooks.runs.records import FlowAtCommit
from webhooks.runs.service import FlowService

log = logging.getLogger("gitflows.dispatch")
LEASE_SECONDS = 300
POLL_SECONDS = 1.0
RETRY_SECONDS = 30.0
MAX_ATTEMPTS = 5


class Dispatcher(Background):
    name = "gitflows-dispatch"

    def __init__(self, service: FlowService) -> None:
        super().__init__()
        self.service = service
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        self.service.intake.inbox.requeue_expired()
        super().start()

    def round(self) -> bool:
        return self.process_one()

    def idle(self) -> None:
        self.service.intake.wait_for_delivery(POLL_SECONDS)

    def wake(self) -> None:
        self.service.intake.wake_dispatcher()

    def process_one(self) -> bool:
        """Handle the next delivery; False when the inbox has nothing to do now."""
        inbox = self.service.intake.inbox
        delivery = inbox.claim(self.worker_id, LEASE_SECONDS)
        if delivery is None:
            return False
        try:
            started = self.handle(normalise_delivery(delivery),
                                  f"{delivery.provider}:{delivery.delivery_id}")
        except Exception as err:  # keep the delivery: retried later, then given up loudly
            give_up = delivery.attempts >= MAX_ATTEMPTS
            log.error("delivery %s failed (attempt %d%s): %s", delivery.id, delivery.attempts,
                      ", giving up" if give_up else "", err)
            inbox.failed(delivery.id, str(err), None if give_up else time.time() + RETRY_SECONDS,
                         self.worker_id)
            return True
        log.info("delivery %s: %d run(s) queued", delivery.id, len(started))
        inbox.done(delivery.id, self.worker_id)
        return True

    # -- events → runs ------------------------------------------------------------
    def handle(self, event: Any, delivery: str = "") -> list[str]:
        if isinstance(event, Ignored | Ping):
            return []
        name = self.service.repos.repo_name(event.repo)
        if name is None:
            log.info("event for %s: not a served repository", event.repo)
            return []
        self.service.repos.refresh(name)
        decided = self._git_event(name, event)
        if decided is None:
            return []
        git_event, commit, trigger, untrusted = decided
        started = []
        for found in self.service.catalog.flows(name, commit):
            if found.flow is None:
                self._invalid(name, commit, found, trigger)
                continue
            matched = matching_triggers(found.flow, git_event)
            if not matched:
                skipped = skipped_triggers(found.flow, git_event)
                reporter = self.service.runs.reporting.reporter(
                    name, commit, found.flow.qualified_id, "skipped", trigger, None) \
                    if skipped else None
                if reporter is not None:  # matched, but the commit message asks to skip
                    reporter.skipped(f"skipped: {skipped[0].skip}"[:140])
                    reporter.close()
                continue
            # one run per flow and event, however many of its triggers match
            key = f"{delivery}:{name}:{found.flow.qualified_id}"
            if self.service.intake.enqueue(key, name, found.flow.namespace, found.flow.id, commit,
                                           {**trigger, "id": matched[0].id}, untrusted):
                started.append(key)
        return started

    def _git_event(self, name: str, event: Any
                   ) -> tuple[GitEvent, str, dict[str, Any], bool] | None:
        """(the event to match, the commit that runs, trigger.*, untrusted); None: nothing runs.
        The head commit message comes from git at that commit (payloads may omit it)."""
        git = self.service.repos[name]
        default_branch = git.current_branch()
        if isinstance(event, Push):
            if event.deleted:
                return None
            paths = changed_paths(git, event.before, event.after, default_branch=default_branch)
            git_event = GitEvent.for_push(
                event.ref, repo=event.repo, changed_paths=paths, default_branch=default_branch,
                head_commit_message=head_message(git, event.after, event.head_commit_message))
            return git_event, event.after, {
                "type": "push", "repo": event.repo, "ref": event.ref, "branch": event.branch,
                "tag": event.tag, "before": event.before, "after": event.after,
                "sha": event.after, "pusher": event.pusher}, False
        if isinstance(event, PullRequest):
            head = event.head_sha
            paths = pull_request_paths(git, event.base_sha or event.base_ref, head)
            git_event = GitEvent.from_pull_request(event, paths, head_message(git, head),
                                                   default_branch)
            return git_event, head, {
                "type": "pull_request", "repo": event.repo, "number": event.number,
                "action": event.action, "base": event.base_ref, "head": event.head_ref,
                "sha": head, "fork": event.fork}, event.fork and not self.service.repos.trusts_forks(name)
        return None

    def _invalid(self, name: str, commit: str, found: FlowAtCommit,
                 trigger: dict[str, Any]) -> None:
        """An invalid flow file fails, as in `flows ci`: a failure status when the repository
        reports statuses (the same context and description), else a warning in the log."""
        errors = [d.format() for d in found.diagnostics if d.is_error]
        log.warning("%s at %s is not a valid flow: %s", found.file, commit[:10],
                    "; ".join(errors[:3]))
        text = self.service.repos[name].files_at(commit, found.file).get(found.file)
        invalid = invalid_flow(found.file, text, found.diagnostics)
        reporter = self.service.runs.reporting.reporter(name, commit, invalid.name, "invalid",
                                                        trigger, None)
        if reporter is not None and not report_invalid(reporter, invalid):
            log.warning("%s at %s: the failure status was not sent in time", found.file,
                        commit[:10])
