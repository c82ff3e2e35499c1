"""Dispatcher: takes accepted deliveries out of the durable inbox and starts the runs
their events trigger, reading flows and changed paths at the event's commit.

Deliveries are taken in batches (each with its own lease): git is asked once per repository
and batch (loops/snapshot.py), flows are parsed once per `.flows` tree, and the batch's runs
are queued in one transaction. A delivery is marked done only after its runs were queued; one
that fails is retried alone; a server killed mid-batch replays the batch's unfinished
deliveries (at-least-once dispatch; a run's key makes queueing it again a no-op).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from runner.ci.event import invalid_flow, report_invalid
from runner.forges.event import Ignored, Ping, PullRequest, Push
from runner.git.diff import pull_request_paths
from runner.triggers.git import GitEvent, matching_triggers, skipped_triggers
from webhooks.background import Background
from webhooks.ingress.inbox import Delivery
from webhooks.ingress.receive import normalise_delivery
from webhooks.loops.snapshot import RepoSnapshot, snapshot
from webhooks.runs.queue import NewRun
from webhooks.runs.records import FlowAtCommit
from webhooks.runs.service import FlowService

log = logging.getLogger("gitflows.dispatch")
LEASE_SECONDS = 300
POLL_SECONDS = 1.0
RETRY_SECONDS = 30.0
MAX_ATTEMPTS = 5
BATCH = 200  # deliveries claimed at once: a burst is dispatched in a few rounds


class Dispatcher(Background):
    name = "gitflows-dispatch"

    def __init__(self, service: FlowService) -> None:
        super().__init__()
        self.service = service
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        inbox = self.service.intake.inbox
        inbox.requeue_expired()
        released = inbox.release_dead(self._alive)
        if released:
            log.info("%d delivery(ies) of a server that is gone: dispatched again", released)
        super().start()

    def _alive(self, owner: str) -> bool:
        """Whether the worker holding a lease may still be at work: one of another host, or a
        live process of this one (never this process: it has claimed nothing yet)."""
        host, _, pid = owner.rpartition(":")
        if owner == self.worker_id:
            return False
        if host != socket.gethostname() or not pid.isdigit():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def round(self) -> bool:
        return self.process_batch()

    def idle(self) -> None:
        self.service.intake.wait_for_delivery(POLL_SECONDS)

    def wake(self) -> None:
        self.service.intake.wake_dispatcher()

    def process_one(self) -> bool:
        """Handle the next delivery; False when the inbox has nothing to do now."""
        return self.process_batch(1)

    def process_batch(self, limit: int = BATCH) -> bool:
        """Handle the next deliveries (up to limit); False when the inbox has none now."""
        inbox = self.service.intake.inbox
        claimed = inbox.claim_batch(self.worker_id, LEASE_SECONDS, limit)
        if not claimed:
            return False
        events: list[Any] = []
        for delivery in claimed:
            try:
                events.append(normalise_delivery(delivery))
            except Exception as err:  # a stored body that no longer parses: that one fails
                events.append(err)
        snaps = self._snapshots([e for e in events if not isinstance(e, Exception)])
        runs: list[NewRun] = []
        decided: list[tuple[Delivery, list[NewRun]]] = []
        renew_at = time.monotonic() + LEASE_SECONDS / 3
        for delivery, event in zip(claimed, events, strict=True):
            if time.monotonic() > renew_at:  # slow forges (skipped statuses): keep the leases
                renew_at = time.monotonic() + LEASE_SECONDS / 3
                for held in claimed:
                    inbox.extend(held.id, self.worker_id, LEASE_SECONDS)
            try:
                if isinstance(event, Exception):
                    raise event
                mine = self._decide(event, f"{delivery.provider}:{delivery.delivery_id}", snaps)
            except Exception as err:  # keep the delivery: retried later, then given up loudly
                self._failed(delivery, err)
                continue
            runs += mine
            decided.append((delivery, mine))
        self._queue(runs, decided)
        return True

    def _queue(self, runs: list[NewRun], decided: list[tuple[Delivery, list[NewRun]]]) -> None:
        """Queue the batch's runs in one transaction, then mark their deliveries done."""
        inbox = self.service.intake.inbox
        try:
            added = self.service.intake.enqueue_many(runs)
        except Exception as err:  # nothing was queued: every delivery is retried
            for delivery, _ in decided:
                self._failed(delivery, err)
            return
        fresh = {run.key for run, new in zip(runs, added, strict=True) if new}
        for delivery, mine in decided:
            log.info("delivery %s: %d run(s) queued", delivery.id,
                     sum(run.key in fresh for run in mine))
        inbox.done_batch([delivery.id for delivery, _ in decided], self.worker_id)

    def _failed(self, delivery: Delivery, err: Exception) -> None:
        give_up = delivery.attempts >= MAX_ATTEMPTS
        log.error("delivery %s failed (attempt %d%s): %s", delivery.id, delivery.attempts,
                  ", giving up" if give_up else "", err)
        self.service.intake.inbox.failed(
            delivery.id, str(err), None if give_up else time.time() + RETRY_SECONDS,
            self.worker_id)

    def _snapshots(self, events: list[Any]) -> dict[str, RepoSnapshot | Exception]:
        """Each served repository's git answers for the batch (or why they could not be had:
        then its deliveries fail, as each one's refresh would have)."""
        by_repo: dict[str, list[Any]] = {}
        for event in events:
            if not isinstance(event, Ignored | Ping):
                name = self.service.repos.repo_name(event.repo)
                if name is not None:
                    by_repo.setdefault(name, []).append(event)
        snaps: dict[str, RepoSnapshot | Exception] = {}
        for name, mine in by_repo.items():
            try:
                snaps[name] = snapshot(self.service.repos, name, mine)
            except Exception as err:
                snaps[name] = err
        return snaps

    # -- events → runs ------------------------------------------------------------
    def handle(self, event: Any, delivery: str = "") -> list[str]:
        """Queue the runs one event triggers now; their keys (those not queued before)."""
        runs = self._decide(event, delivery, self._snapshots([event]))
        added = self.service.intake.enqueue_many(runs)
        return [run.key for run, new in zip(runs, added, strict=True) if new]

    def _decide(self, event: Any, delivery: str,
                snaps: dict[str, RepoSnapshot | Exception]) -> list[NewRun]:
        """The runs an event triggers (one per flow, however many of its triggers match); a
        skipped or invalid flow is reported here."""
        if isinstance(event, Ignored | Ping):
            return []
        name = self.service.repos.repo_name(event.repo)
        if name is None:
            log.info("event for %s: not a served repository", event.repo)
            return []
        snap = snaps[name]
        if isinstance(snap, Exception):
            raise snap
        decided = self._git_event(name, event, snap)
        if decided is None:
            return []
        git_event, commit, trigger, untrusted = decided
        info = snap.commit(commit)
        found_flows = self.service.catalog.flows_in_tree(name, info.commit, commit, info.tree) \
            if info is not None else self.service.catalog.flows(name, commit)
        runs = []
        for found in found_flows:
            if found.flow is None:
                self._invalid(name, commit, found, trigger)
                continue
            matched = matching_triggers(found.flow, git_event)
            if not matched:
                self._skipped(name, commit, found, git_event, trigger)
                continue
            runs.append(NewRun(f"{delivery}:{name}:{found.flow.qualified_id}", name,
                               found.flow.namespace, found.flow.id, commit,
                               {**trigger, "id": matched[0].id}, untrusted))
        return runs

    def _skipped(self, name: str, commit: str, found: FlowAtCommit, git_event: GitEvent,
                 trigger: dict[str, Any]) -> None:
        """A flow whose triggers match but whose commit message asks to skip: say so."""
        assert found.flow is not None
        skipped = skipped_triggers(found.flow, git_event)
        reporter = self.service.runs.reporting.reporter(
            name, commit, found.flow.qualified_id, "skipped", trigger, None) if skipped else None
        if reporter is not None:
            reporter.skipped(f"skipped: {skipped[0].skip}"[:140])
            reporter.close()

    def _git_event(self, name: str, event: Any, snap: RepoSnapshot
                   ) -> tuple[GitEvent, str, dict[str, Any], bool] | None:
        """(the event to match, the commit that runs, trigger.*, untrusted); None: nothing runs.
        The head commit message comes from git at that commit (payloads may omit it)."""
        default_branch = snap.default_branch
        if isinstance(event, Push):
            if event.deleted:
                return None
            git_event = GitEvent.for_push(
                event.ref, repo=event.repo, changed_paths=snap.push_paths(event),
                default_branch=default_branch,
                head_commit_message=snap.message(event.after, event.head_commit_message))
            return git_event, event.after, {
                "type": "push", "repo": event.repo, "ref": event.ref, "branch": event.branch,
                "tag": event.tag, "before": event.before, "after": event.after,
                "sha": event.after, "pusher": event.pusher}, False
        if isinstance(event, PullRequest):
            head = event.head_sha
            paths = pull_request_paths(snap.git, event.base_sha or event.base_ref, head)
            git_event = GitEvent.from_pull_request(event, paths, snap.message(head),
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
