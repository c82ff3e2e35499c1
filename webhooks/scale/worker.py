"""`flows worker`: runs the runs that `flows serve --broker` queued, on this machine.

A message is run only after claiming its key in the ledger. A claim that takes over a
dead worker's run records the take-over (RESTARTED in the history) and tells the servers;
then the run starts again under the same execution id, so the id the API handed out ends
in the run's real final state. The run itself goes
through FlowService.start, as in `flows serve` alone: checkout at the run's commit (from
this worker's mirror of remote repositories), engine, history notes, commit statuses.
History written to a mirror is pushed to the origin after each run (fetch, merge, push
fast-forward, retried on a race: runner/history/sync.py).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from runner.errors import GitflowsError
from runner.events import iso
from runner.executors import Executors, LocalExecutor
from runner.git.mirror import fetch_commit
from runner.history.attempts import restart, take_over
from runner.history.sync import push
from runner.ids import ulid
from webhooks.config import RepoConfig, ServerConfig
from webhooks.runs.records import supersede_group
from webhooks.runs.service import FlowService
from webhooks.scale.broker import Broker, HandBack
from webhooks.scale.dispatch import RemoteDispatch, server_settings
from webhooks.scale.redisio import Controls, Events, Groups, Ledger, Registry
from webhooks.scale.relay import RelaySink
from webhooks.scale.slots import RedisSlots
from webhooks.scale.steps import claim_steps

log = logging.getLogger("gitflows.worker")
BEAT_SECONDS = 1.0
POLL_SECONDS = 0.2  # how often a running run looks for kill/resume requests


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 4
    data_dir: Path = Path(".flows-worker")
    heartbeat_timeout: float = 30.0
    grace: float = 60.0  # SIGTERM: seconds current runs may take before they are handed back
    locations: Mapping[str, str] = dataclasses.field(default_factory=dict)  # repo → path here


class FlowWorker:
    def __init__(self, url: str, options: WorkerOptions, executors: Executors,
                 environ: Mapping[str, str] | None = None, client: Any = None) -> None:
        from webhooks.scale.redisio import connect

        self.options = options
        self.executors = executors
        self.environ = dict(os.environ if environ is None else environ)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{ulid()[-6:]}"
        self.client = client or connect(url)
        self.broker = Broker(url, heartbeat_timeout=options.heartbeat_timeout)
        self.ledger = Ledger(self.client)
        self.registry = Registry(self.client)
        self.events = Events(self.client)
        self.controls = Controls(self.client)
        self.groups = Groups(self.client)
        self.slots = RedisSlots(self.client, self.id, options.heartbeat_timeout)
        self.stopping = threading.Event()
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self._services: dict[RepoConfig, FlowService] = {}
        self._git_locks: dict[str, threading.Lock] = {}
        self.active: dict[str, str] = {}  # run key → execution id
        self.started_at = time.time()
        self.done = 0
        self._alive: IO[str] | None = None
        host = executors.host
        if isinstance(host, LocalExecutor) and host.groups is None:
            # before any run: steps a killed worker on this data dir left are stopped
            host.groups, self._alive = claim_steps(options.data_dir, self.id)

    # -- lifecycle ------------------------------------------------------------------
    def run(self) -> None:
        """Consume until stop() (SIGTERM): then finish or hand back the current runs."""
        self._beat()
        self.broker.consume(self.handle, list(self.options.queues), self.options.concurrency)
        beats = threading.Thread(target=self._beats, name="gitflows-heartbeat", daemon=True)
        beats.start()
        log.info("worker %s on queues %s, concurrency %d", self.id, ",".join(self.options.queues),
                 self.options.concurrency)
        while not self.stopping.wait(1.0):
            pass
        self._deadline = time.monotonic() + self.options.grace
        self.broker.stop(self.options.grace + 15)
        self.registry.leave(self.id)
        for service in self._services.values():
            service.close()

    def stop(self) -> None:
        self.stopping.set()

    def _beats(self) -> None:
        while True:
            try:
                self._beat()
                self.broker.heartbeat(self.options.queues)
            except Exception as err:  # Redis away for a while: keep trying
                log.warning("heartbeat: %s", err)
            time.sleep(BEAT_SECONDS)

    def _beat(self) -> None:
        with self._lock:
            runs = sorted(self.active.values())
        self.registry.beat(self.id, {
            "host": socket.gethostname(), "pid": os.getpid(), "queues": list(self.options.queues),
            "concurrency": self.options.concurrency, "runs": runs, "done": self.done,
            "started": iso_now(self.started_at), "stopping": self.stopping.is_set(),
            "heartbeat_timeout": self.options.heartbeat_timeout})

    # -- one run ----------------------------------------------------------------------
    def service_for(self, repo: Mapping[str, Any], server: Mapping[str, Any]) -> FlowService:
        config = RepoConfig(**repo)
        if config.name in self.options.locations:
            config = dataclasses.replace(config, location=self.options.locations[config.name])
        with self._lock:
            service = self._services.get(config)
            if service is None:
                public_url, notify = server_settings(server)
                service = FlowService(ServerConfig(
                    data_dir=self.options.data_dir, workers=self.options.concurrency,
                    repos=(config,), public_url=public_url, notify=notify),
                    self.executors, self.environ)
                service.intake.broker = RemoteDispatch(service, self.broker, self.client)
                service.runs.session.slots = self.slots  # flow concurrency across every worker
                service.runs.sinks.append(RelaySink(self.events, service))
                self._services[config] = service
                self._git_locks[config.name] = threading.Lock()
            return service

    def handle(self, payload: dict[str, Any]) -> None:
        key = str(payload["key"])
        claim = self.ledger.claim(key, self.id, self.options.heartbeat_timeout)
        if claim.status == "done":
            log.info("run %s: done already", key)
            return
        if claim.status == "busy":  # its owner lives: look again once it could have died
            self.broker.send(str(payload.get("queue") or "default"), payload,
                             delay=self.options.heartbeat_timeout)
            return
        try:
            service = self.service_for(payload["repo"], payload.get("server") or {})
            name, commit = str(payload["repo"]["name"]), str(payload["commit"])
            self._ensure_commit(service, name, commit)
        except Exception:
            self.ledger.release(key, self.id)
            raise  # retried later, maybe elsewhere
        self._run(key, payload, service, claim.previous)

    def _run(self, key: str, payload: dict[str, Any], service: FlowService, previous: str) -> None:
        name, commit = str(payload["repo"]["name"]), str(payload["commit"])
        flow = f"{payload['namespace']}.{payload['flow_id']}"
        trigger = dict(payload.get("trigger") or {})
        execution_id = previous or str(payload.get("execution_id") or "") or ulid()
        # a re-delivery (dead or stopping worker) runs again under the same execution id
        taken = take_over(service.repos.history(name), commit, flow, str(trigger.get("type")),
                          execution_id, self._runner("take-over"))
        if taken.ended is not None:  # it ended; its worker died before the ledger heard
            log.info("run %s: execution %s had ended %s; not running it again", key,
                     execution_id, taken.ended)
            self.ledger.finish(key, self.id, taken.ended, execution_id)
            return
        if previous:
            log.warning("run %s: its worker stopped during execution %s; running it again",
                        key, previous)
            self.events.add("restarted", previous, _where(payload, name))
        self.ledger.started(key, self.id, execution_id)  # before it can write any history
        try:
            service.runs.start(str(payload["namespace"]), str(payload["flow_id"]),
                               payload.get("inputs") or {}, repo=name, ref=commit, trigger=trigger,
                               untrusted=bool(payload.get("untrusted")), execution_id=execution_id,
                               reuse=payload.get("reuse") or None,
                               labels=payload.get("labels") or None, seq_from=taken.seq_from)
        except GitflowsError as err:  # cannot ever start (flow gone, bad inputs): final
            log.error("run %s cannot start: %s", key, err)
            self.events.add("failed", execution_id, {**_where(payload, name),
                                                     "message": f"cannot start: {err.message}",
                                                     "timestamp": iso_now()})
            self.ledger.finish(key, self.id, "FAILED", execution_id)
            return
        except Exception:
            self.ledger.release(key, self.id)
            raise
        with self._lock:
            self.active[key] = execution_id
        self._see_through(key, payload, service, execution_id)

    def _see_through(self, key: str, payload: dict[str, Any], service: FlowService,
                     execution_id: str) -> None:
        """Follow a started run to its end (or hand it back on stop), then settle the ledger."""
        name, commit = str(payload["repo"]["name"]), str(payload["commit"])
        flow = f"{payload['namespace']}.{payload['flow_id']}"
        trigger = dict(payload.get("trigger") or {})
        state, handed_back = "FAILED", False
        group = supersede_group(name, flow, trigger) if service.repos.superseded(name) == "cancel" else None
        try:
            if group:
                self._supersede(group, execution_id, float(payload.get("queued") or time.time()))
            handed_back = self._follow(service, execution_id)
            state = str(service.registry.describe(execution_id)["state"]["current"])
            self._push_history(service, name)
            next(s for s in service.runs.sinks if isinstance(s, RelaySink)).snapshot("end", execution_id)
        finally:  # the run happened: it is done (or handed back), whatever failed here
            if group:
                self._leave(group, execution_id)
            with self._lock:
                self.active.pop(key, None)
                self.done += 1
            if handed_back:  # killed here only to run elsewhere: not its final state
                restart(service.repos.history(name), commit, flow, str(trigger.get("type")),
                        execution_id, self._runner("handed back"))
                self.events.add("restarted", execution_id, _where(payload, name))
                self.ledger.release(key, self.id, keep_execution=True)
            else:
                self.ledger.finish(key, self.id, state, execution_id)
        if handed_back:
            raise HandBack(f"run {key}: worker stopping, handed back", delay=500)

    def _runner(self, what: str) -> str:
        return f"flows worker@{socket.gethostname()} ({what})"

    def _supersede(self, group: str, execution_id: str, queued: float) -> None:
        """A newer push (or pull request update) kills the older runs of its group, on
        whichever worker they run; a run that starts after a newer one kills itself."""
        try:
            older, newer = self.groups.join(group, execution_id, queued)
            for old in older:
                log.warning("%s: superseded by %s for %s", old, execution_id, group)
                self.controls.request(old, "kill", {"supersededBy": execution_id})
            self.groups.leave(group, *older)
            if newer:
                log.warning("%s: a newer run of %s started already: killing it", execution_id, group)
                self.controls.request(execution_id, "kill", {"superseded": True})
        except Exception as err:  # Redis away for a moment: the runs go on, none superseded
            log.warning("superseding in %s: %s", group, err)

    def _leave(self, group: str, execution_id: str) -> None:
        try:
            self.groups.leave(group, execution_id)
        except Exception as err:  # the entry expires with the group's key
            log.warning("leaving %s: %s", group, err)

    def _follow(self, service: FlowService, execution_id: str) -> bool:
        """Wait for the run, passing on kill/resume requests; True if handed back on stop."""
        record = service.registry.record(execution_id)
        handed_back = killing = False
        while not record.done.wait(POLL_SECONDS):
            if killing:  # asked before the engine had started the run: ask again
                killing = not service.runs.kill(execution_id)
            try:
                asked = self.controls.take([execution_id]).get(execution_id, {})
            except Exception as err:  # Redis away for a moment: the run goes on
                log.warning("kill/resume requests of %s: %s", execution_id, err)
                asked = {}
            for what, value in asked.items():
                if what == "kill":
                    killing = not service.runs.kill(execution_id)
                elif what == "resume":
                    try:
                        service.runs.resume(execution_id, value)
                    except GitflowsError as err:
                        log.error("resume %s: %s", execution_id, err)
            if not handed_back and self._deadline is not None and time.monotonic() > self._deadline:
                handed_back = service.runs.kill(execution_id)
        return handed_back

    def _ensure_commit(self, service: FlowService, name: str, commit: str) -> None:
        """Fetch the run's commit into this worker's mirror when it is not there yet."""
        if name not in service.repos.mirrors:
            return
        try:
            service.repos[name].resolve(commit)
            return
        except GitflowsError:
            pass
        try:
            with self._git_locks[name]:
                fetch_commit(service.repos.mirrors[name], commit, service.repos.token(name))
        except GitflowsError as err:
            raise GitflowsError(f"{name}: cannot fetch {commit}: {err}") from None

    def _push_history(self, service: FlowService, name: str) -> None:
        """History written into a mirror goes to the origin (fetch + merge + push, retried)."""
        if name not in service.repos.mirrors:
            return  # a local repository: the notes were written there (compare-and-swap)
        location = service.repos.settings(name).location
        try:
            with self._git_locks[name]:
                push(service.repos.mirrors[name], location, store=service.repos.history(name))
        except GitflowsError as err:
            log.error("%s: history not pushed to the origin: %s", name, err)


def _where(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {"repo": name, "commit": payload["commit"], "namespace": payload["namespace"],
            "flow": payload["flow_id"]}


def iso_now(at: float | None = None) -> str:
    import datetime as dt

    return iso(dt.datetime.fromtimestamp(time.time() if at is None else at, dt.UTC))
