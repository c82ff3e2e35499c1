"""Docker executor: steps in containers, streamed, limited, always cleaned up.

The only module that imports the docker SDK. Steps of one run that share an
image run in one long-lived container (docker exec), so a step costs an exec,
not a container start. The run's directory is bind-mounted at the same path,
so paths mean the same inside and outside. Every container is labelled with
its owner process; leftovers of a killed runner are reaped at start-up.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from runner.errors import ExecutorUnavailableError
from runner.executors.agent import KEEPALIVE, Agent, reap_dirs
from runner.executors.base import LineSplitter
from runner.ports.executor import (
    EXECUTION_LABEL,
    ContainerOptions,
    ExecutorError,
    LineHandler,
    ProcessResult,
    ProcessSpec,
)

POLL_SECONDS = 0.05
MANAGED = "io.gitflows.managed"
OWNER = "io.gitflows.owner"
ROOT_USERS = ("", "0", "root", "0:0", "root:root")  # who can open the agent's private FIFOs


def _start_time(pid: int) -> str | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19]  # starttime, so a recycled pid is not mistaken for its owner


def owner_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return True  # another machine's container: not ours to judge
    pid, _, started = rest.partition(":")
    return pid.isdigit() and _start_time(int(pid)) == started


@dataclass
class _Session:
    container_id: str
    key: tuple[Any, ...]
    agent: Agent | None = None  # steps go to its shell; None (or dead): docker exec


class DockerExecutor:
    name = "docker"

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.owner = owner_id()
        self._lock = threading.Lock()
        self._sessions: dict[tuple[Any, ...], _Session] = {}
        self._no_keepalive: set[str] = set()  # images without /bin/sh: one container per step

    @classmethod
    def connect(cls) -> DockerExecutor:
        """Connect to the engine named by DOCKER_HOST (or the local socket); reap leftovers."""
        try:
            client = docker.from_env(timeout=60)
            client.ping()
        except DockerException as err:
            raise ExecutorUnavailableError(
                f"no Docker engine answers ({err}); start one, or use --executor process") from None
        executor = cls(client)
        executor.reap()
        return executor

    def reap(self) -> list[str]:
        """Remove containers left by runners of this host that are gone (killed with SIGKILL)."""
        removed = []
        for container in self.client.containers.list(all=True, filters={"label": MANAGED}):
            owner = container.labels.get(OWNER, "")
            if owner and not _owner_alive(owner):
                with contextlib.suppress(APIError):
                    container.remove(force=True)
                    removed.append(container.id)
        self._reap_service_networks()
        reap_dirs(lambda pid: _start_time(pid) is not None)  # agents' FIFOs of dead runners
        return removed

    def kill_execution(self, execution_id: str) -> list[str]:
        """Remove the containers of one execution (label io.gitflows.execution), whoever
        started them: its run is taken over, so a dead attempt's step must not go on."""
        removed = []
        found = self.client.containers.list(
            all=True, filters={"label": f"{EXECUTION_LABEL}={execution_id}"})
        for container in found:
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
                removed.append(container.id)
        with self._lock:  # this process's sessions of it are gone with them
            gone = [self._sessions.pop(k) for k, s in list(self._sessions.items())
                    if s.container_id in removed]
        for session in gone:
            if session.agent is not None:
                session.agent.close()  # its steps end as killed (137), as under docker exec
        from runner.executors.services import remove_execution_networks  # services hook
        remove_execution_networks(self.client, execution_id)
        return removed

    def _reap_service_networks(self) -> None:
        from runner.executors.services import reap_networks  # services hook (imports this)
        reap_networks(self.client)

    # -- running a step ---------------------------------------------------------
    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult:
        options = spec.container
        if options is None:
            raise ExecutorError("the docker executor needs a container image")
        if spec.session is not None and options.reuse and options.entrypoint is None \
                and options.image not in self._no_keepalive:
            session = self._session(spec, options)
            if session is not None:
                step = session.agent.submit(spec) if session.agent is not None else None
                if step is not None:
                    return self._supervise(step.stream(), on_line, spec, cancel, wait=step.wait,
                                           kill=lambda: self._drop(session),
                                           exit_code=lambda: step.exit_code)
                return self._exec(session, spec, on_line, cancel)
        self._ensure_image(options.image, options.pull_policy)
        return self._run_once(spec, options, on_line, cancel)

    def _create_args(self, spec: ProcessSpec, options: ContainerOptions) -> dict[str, Any]:
        root = str((spec.share_root or spec.workdir).resolve())
        volumes = {root: {"bind": root, "mode": "rw"}}
        for mount in options.mounts:
            volumes[str(mount.source.resolve())] = {"bind": mount.target,
                                                    "mode": "ro" if mount.read_only else "rw"}
        args: dict[str, Any] = {
            "labels": {**spec.labels, MANAGED: "1", OWNER: self.owner},
            "volumes": volumes, "working_dir": str(spec.workdir.resolve()),
            "network_mode": options.network_mode, "user": options.user,
            "pids_limit": options.pids_limit, "privileged": False, "detach": True,
            "security_opt": ["no-new-privileges"],
        }
        if options.cpus:
            args["nano_cpus"] = int(options.cpus * 1e9)
        if options.memory:
            args["mem_limit"] = options.memory
            args["memswap_limit"] = options.memory_swap or options.memory
        if options.shm_size:
            args["shm_size"] = options.shm_size
        return args

    def _run_once(self, spec: ProcessSpec, options: ContainerOptions, on_line: LineHandler,
                  cancel: threading.Event | None) -> ProcessResult:
        args = self._create_args(spec, options)
        try:
            container = self.client.containers.create(
                options.image, command=list(spec.command), environment=dict(spec.env),
                entrypoint=list(options.entrypoint) if options.entrypoint is not None else None,
                **args)
        except APIError as err:
            raise ExecutorError(f"cannot create a container from {options.image}: "
                                f"{err.explanation or err}") from None
        try:
            api = self.client.api
            stream = api.attach(container.id, stdout=True, stderr=True, stream=True, logs=True,
                                demux=True)
            try:
                api.start(container.id)
            except APIError as err:
                raise ExecutorError(f"cannot start {spec.command[0]} in {options.image}: "
                                    f"{err.explanation or err}") from None
            codes: list[int] = []
            return self._supervise(
                stream, on_line, spec, cancel,
                wait=lambda: codes.append(int(api.wait(container.id)["StatusCode"])),
                kill=lambda: api.kill(container.id), exit_code=lambda: codes[0] if codes else 137)
        finally:
            with contextlib.suppress(APIError):
                container.remove(force=True)

    def _session(self, spec: ProcessSpec, options: ContainerOptions) -> _Session | None:
        root = (spec.share_root or spec.workdir).resolve()
        key = (spec.session, options.image, options.network_mode, options.cpus, options.memory,
               options.memory_swap, options.pids_limit, options.user, options.shm_size,
               options.mounts, str(root))
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                return session  # its image was checked (or pulled) when it started
            self._ensure_image(options.image, options.pull_policy)
            args = self._create_args(spec, options)
            args["working_dir"] = str(root)
            agent = Agent() if self._runs_as_root(options) else None
            command = agent.command() if agent is not None else list(KEEPALIVE[1:3])
            if agent is not None:
                args["volumes"][str(agent.dir)] = {"bind": str(agent.dir), "mode": "rw"}
            try:
                container = self.client.containers.create(
                    options.image, command=command, entrypoint=[KEEPALIVE[0]],
                    environment={}, **args)
                container.start()
                time.sleep(0.05)
                container.reload()
            except APIError:
                container = None
            if container is None or container.status != "running":
                self._no_keepalive.add(options.image)
                if container is not None:
                    with contextlib.suppress(APIError):
                        container.remove(force=True)
                if agent is not None:
                    agent.close()
                return None
            if agent is not None and not agent.wait_ready():
                agent.close()  # the image's sh cannot run it: docker exec for this session
                agent = None
            session = self._sessions[key] = _Session(container.id, key, agent)
            return session

    def _runs_as_root(self, options: ContainerOptions) -> bool:
        if options.user not in (None, *ROOT_USERS):
            return False
        try:
            user = self.client.images.get(options.image).attrs["Config"].get("User") or ""
        except (DockerException, KeyError, TypeError):
            return False
        return options.user is not None or user in ROOT_USERS

    def _exec(self, session: _Session, spec: ProcessSpec, on_line: LineHandler,
              cancel: threading.Event | None) -> ProcessResult:
        api = self.client.api
        options = spec.container
        assert options is not None
        try:
            exec_id = api.exec_create(session.container_id, list(spec.command), stdout=True,
                                      stderr=True, environment=dict(spec.env),
                                      workdir=str(spec.workdir.resolve()), user=options.user or "")
            stream = api.exec_start(exec_id, stream=True, demux=True)
        except APIError as err:
            self._drop(session)
            raise ExecutorError(f"cannot exec in the {options.image} container: "
                                f"{err.explanation or err}") from None
        finished = threading.Event()

        def kill() -> None:
            self._drop(session)  # the only way to stop an exec is to stop its container

        def exit_code() -> int:
            try:
                code = api.exec_inspect(exec_id).get("ExitCode")
            except (APIError, NotFound):
                return 137  # the container was stopped under the exec
            return int(code) if code is not None else 137

        return self._supervise(stream, on_line, spec, cancel, wait=None, kill=kill,
                               exit_code=exit_code, finished=finished)

    def _supervise(self, stream: Iterable[Any], on_line: LineHandler, spec: ProcessSpec,
                   cancel: threading.Event | None, wait: Any, kill: Any, exit_code: Any,
                   finished: threading.Event | None = None) -> ProcessResult:
        """Pump output while watching the deadline and the cancel event."""
        lock = threading.Lock()

        def locked(name: str, line: str) -> None:
            with lock:
                on_line(name, line)

        done = finished or threading.Event()

        def pump() -> None:
            _pump(stream, locked)
            if wait is not None:
                wait()
            done.set()

        worker = threading.Thread(target=pump, daemon=True)
        worker.start()
        deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
        timed_out = killed = False
        while not done.wait(POLL_SECONDS):
            killed = cancel is not None and cancel.is_set()
            timed_out = deadline is not None and time.monotonic() >= deadline
            if killed or timed_out:
                with contextlib.suppress(APIError, NotFound):
                    kill()
                done.wait(10)
                break
        worker.join(timeout=10)
        return ProcessResult(exit_code=exit_code(), timed_out=timed_out and not killed,
                             killed=killed)

    def _drop(self, session: _Session) -> None:
        with self._lock:
            self._sessions.pop(session.key, None)
        if session.agent is not None:
            session.agent.close()
        with contextlib.suppress(APIError, NotFound):
            self.client.api.remove_container(session.container_id, force=True)

    def close_session(self, session: str) -> None:
        with self._lock:
            mine = [s for key, s in self._sessions.items() if key[0] == session]
        for item in mine:
            self._drop(item)

    def _ensure_image(self, image: str, policy: str) -> None:
        if policy != "ALWAYS":
            try:
                self.client.images.get(image)
                return
            except ImageNotFound:
                if policy == "NEVER":
                    raise ExecutorError(f"image {image} is not on this machine and pullPolicy is "
                                        "NEVER; build or `docker load` it here first") from None
            except DockerException as err:
                raise ExecutorError(f"cannot inspect image {image}: {err}") from None
        try:
            self.client.images.pull(image)
        except DockerException as err:
            raise ExecutorError(
                f"image {image} is not on this machine and cannot be pulled ({err}); pull it "
                "where a registry is reachable and `docker load` it here, or set containerImage "
                "to a local image") from None


def _pump(stream: Iterable[Any], on_line: LineHandler) -> None:
    splitters = {"stdout": LineSplitter("stdout", on_line), "stderr": LineSplitter("stderr", on_line)}
    with contextlib.suppress(DockerException, OSError):  # the stream ends when the container dies
        for out, err in stream:
            if out:
                splitters["stdout"].feed(out)
            if err:
                splitters["stderr"].feed(err)
    for splitter in splitters.values():
        splitter.close()
