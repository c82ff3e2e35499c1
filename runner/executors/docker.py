"""Docker executor: each step in a fresh container, removed afterwards.

The only module that imports the docker SDK. The step's working directory is
bind-mounted at the same path, so paths mean the same inside and outside.
"""

from __future__ import annotations

import contextlib
import threading
import time

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from runner.errors import ExecutorUnavailableError
from runner.executors.base import ExecutorError, LineHandler, LineSplitter, ProcessResult, ProcessSpec

POLL_SECONDS = 0.05


class DockerExecutor:
    name = "docker"

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    @classmethod
    def connect(cls) -> DockerExecutor:
        """Connect to the engine named by DOCKER_HOST (or the local socket)."""
        try:
            client = docker.from_env(timeout=30)
            client.ping()
        except DockerException as err:
            raise ExecutorUnavailableError(
                f"no Docker engine answers ({err}); start one, or use --executor process") from None
        return cls(client)

    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult:
        if spec.image is None:
            raise ExecutorError("the docker executor needs an image")
        self._ensure_image(spec.image, spec.pull_policy)
        workdir = str(spec.workdir.resolve())
        try:
            container = self.client.containers.create(
                spec.image, command=list(spec.command), working_dir=workdir,
                environment=dict(spec.env), labels=dict(spec.labels),
                volumes={workdir: {"bind": workdir, "mode": "rw"}},
                network_mode=spec.network_mode, detach=True,
            )
        except APIError as err:
            raise ExecutorError(f"cannot create a container from {spec.image}: "
                                f"{err.explanation or err}") from None
        try:
            return self._run(container, spec, on_line, cancel)
        finally:
            with contextlib.suppress(APIError):  # already gone: nothing to clean
                container.remove(force=True)

    def _run(self, container: object, spec: ProcessSpec, on_line: LineHandler,
             cancel: threading.Event | None) -> ProcessResult:
        api = self.client.api
        container_id = container.id  # type: ignore[attr-defined]
        stream = api.attach(container_id, stdout=True, stderr=True, stream=True, logs=True,
                            demux=True)
        api.start(container_id)
        lock = threading.Lock()

        def locked(name: str, line: str) -> None:
            with lock:
                on_line(name, line)

        reader = threading.Thread(target=_pump, args=(stream, locked), daemon=True)
        reader.start()
        exit_code: list[int] = []
        waiter = threading.Thread(
            target=lambda: exit_code.append(int(api.wait(container_id)["StatusCode"])),
            daemon=True)
        waiter.start()
        deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
        timed_out = killed = False
        while waiter.is_alive():
            waiter.join(POLL_SECONDS)
            killed = cancel is not None and cancel.is_set()
            timed_out = deadline is not None and time.monotonic() >= deadline
            if waiter.is_alive() and (killed or timed_out):
                with contextlib.suppress(APIError):
                    api.kill(container_id)
                waiter.join()
                break
        reader.join(timeout=10)
        code = exit_code[0] if exit_code else 137
        return ProcessResult(exit_code=code, timed_out=timed_out and not killed,
                             killed=killed)

    def _ensure_image(self, image: str, policy: str) -> None:
        try:
            if policy != "ALWAYS":
                self.client.images.get(image)
                return
        except ImageNotFound:
            if policy == "NEVER":
                raise ExecutorError(f"image {image} is not present and pullPolicy is NEVER") \
                    from None
        try:
            self.client.images.pull(image)
        except DockerException as err:
            raise ExecutorError(f"cannot pull image {image}: {err}") from None


def _pump(stream: object, on_line: LineHandler) -> None:
    splitters = {"stdout": LineSplitter("stdout", on_line), "stderr": LineSplitter("stderr", on_line)}
    for out, err in stream:  # type: ignore[attr-defined]
        if out:
            splitters["stdout"].feed(out)
        if err:
            splitters["stderr"].feed(err)
    for splitter in splitters.values():
        splitter.close()
