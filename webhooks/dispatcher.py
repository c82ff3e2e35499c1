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

from runner.git.diff import changed_paths, commit_message, pull_request_paths
from webhooks import providers
from webhooks.background import Background
from webhooks.dispatch import GitEvent, matching_triggers, skipped_triggers
from webhooks.events import Ignored, Ping, PullRequest, Push
from webhooks.service import FlowService

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
        self.service.inbox.requeue_expired()
        super().start()

    def round(self) -> bool:
        return self.process_one()

    def idle(self) -> None:
        self.service.wait_for_delivery(POLL_SECONDS)

    def wake(self) -> None:
        self.service.wake_dispatcher()

    def process_one(self) -> bool:
        """Handle the next delivery; False when the inbox has nothing to do now."""
        inbox = self.service.inbox
        delivery = inbox.claim(self.worker_id, LEASE_SECONDS)
        if delivery is None:
            return False
        try:
            started = self.handle(providers.normalise_delivery(delivery),
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
        name = self.service.repo_name(event.repo)
        if name is None:
            log.info("event for %s: not a served repository", event.repo)
            return []
        self.service.refresh(name)
        git = self.service.repos[name]
        default_branch = git.current_branch()
        trigger: dict[str, Any]
        if isinstance(event, Push):
            if event.deleted:
                return []
            paths = changed_paths(git, event.before, event.after, default_branch=default_branch)
            git_event = GitEvent.from_push(event, paths, default_branch)
            commit, trigger = event.after, {
                "type": "push", "repo": event.repo, "ref": event.ref, "branch": event.branch,
                "tag": event.tag, "before": event.before, "after": event.after,
                "sha": event.after, "pusher": event.pusher}
            untrusted = False
        elif isinstance(event, PullRequest):
            head = event.head_sha
            paths = pull_request_paths(git, event.base_sha or event.base_ref, head)
            git_event = GitEvent.from_pull_request(event, paths, commit_message(git, head),
                                                   default_branch)
            commit, trigger = head, {
                "type": "pull_request", "repo": event.repo, "number": event.number,
                "action": event.action, "base": event.base_ref, "head": event.head_ref,
                "sha": head, "fork": event.fork}
            untrusted = event.fork and not self.service.trusts_forks(name)
        else:
            return []
        started = []
        for found in self.service.flows(name, commit):
            if found.flow is None:
                errors = [d.format() for d in found.diagnostics if d.is_error]
                log.warning("%s at %s is not a valid flow: %s", found.file, commit[:10],
                            "; ".join(errors[:3]))
                continue
            matched = matching_triggers(found.flow, git_event)
            if not matched:
                skipped = skipped_triggers(found.flow, git_event)
                reporter = self.service.reporting.reporter(
                    name, commit, found.flow.qualified_id, "skipped", trigger, None) \
                    if skipped else None
                if reporter is not None:  # matched, but the commit message asks to skip
                    reporter.skipped(f"skipped: {skipped[0].skip}"[:140])
                    reporter.close()
                continue
            # one run per flow and event, however many of its triggers match
            key = f"{delivery}:{name}:{found.flow.qualified_id}"
            if self.service.enqueue(key, name, found.flow.namespace, found.flow.id, commit,
                                    {**trigger, "id": matched[0].id}, untrusted):
                started.append(key)
        return started
