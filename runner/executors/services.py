"""Sidecar service containers on a per-run Docker network (ServiceHost for Docker).

Every network and container carries the execution label and this process as owner, so
kill_execution and the start-up reaper remove them like step containers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from runner.errors import ExecutorUnavailableError
from runner.executors.docker import MANAGED, OWNER, _owner_alive, owner_id
from runner.ports.executor import EXECUTION_LABEL
from runner.ports.services import (
    ServiceEndpoint,
    ServiceError,
    ServiceGroup,
    ServiceSpec,
    listening_ports,
)

PROBE_SECONDS = 0.2
SERVICE_LABEL = "io.gitflows.service"
GROUP_LABEL = "io.gitflows.service-group"  # the network of a Services task run


def remove_execution_networks(client: docker.DockerClient, execution_id: str) -> list[str]:
    """The service networks of one execution (after its containers went)."""
    found = client.networks.list(filters={"label": f"{EXECUTION_LABEL}={execution_id}"})
    return _remove_networks(found)


def reap_networks(client: docker.DockerClient) -> list[str]:
    """Service containers and networks left by runners of this host that are gone (SIGKILL):
    a runner with process steps only never starts the DockerExecutor's reaper."""
    for container in client.containers.list(all=True, filters={"label": SERVICE_LABEL}):
        owner = container.labels.get(OWNER, "")
        if owner and not _owner_alive(owner):
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
    found = client.networks.list(filters={"label": MANAGED})
    return _remove_networks([n for n in found
                             if n.attrs.get("Labels", {}).get(OWNER)
                             and not _owner_alive(n.attrs["Labels"][OWNER])])


def _remove_networks(networks: Sequence[Any]) -> list[str]:
    removed = []
    for network in networks:
        with contextlib.suppress(NotFound, APIError):
            network.reload()
            for container in network.containers:  # steps' session containers stay, detached
                with contextlib.suppress(NotFound, APIError):
                    network.disconnect(container, force=True)
            network.remove()
            removed.append(network.name)
    return removed


class DockerServices:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.owner = owner_id()

    @classmethod
    def connect(cls) -> DockerServices:
        try:
            client = docker.from_env(timeout=60)
            client.ping()
        except DockerException as err:
            raise ExecutorUnavailableError(f"services need a Docker engine; none answers "
                                           f"({err})") from None
        reap_networks(client)
        return cls(client)

    def start(self, execution_id: str, group_id: str, specs: Sequence[ServiceSpec],
              isolated: bool, cancel: threading.Event) -> ServiceGroup:
        labels = {EXECUTION_LABEL: execution_id, MANAGED: "1", OWNER: self.owner}
        group = ServiceGroup(f"gitflows-{group_id}", isolated)
        try:
            if not isolated:  # an isolated group has no network: loopback only
                self.client.networks.create(group.network, driver="bridge", labels=labels)
            for spec in specs:
                group = ServiceGroup(group.network, isolated,
                                     (*group.endpoints, self._start_one(spec, group, labels)))
            for spec, endpoint in zip(specs, group.endpoints, strict=True):
                self._wait_healthy(spec, endpoint, group, cancel)
        except BaseException as err:
            logs = self.logs(group)
            self.remove(group)
            if isinstance(err, APIError):
                raise ServiceError(f"cannot start the services: {err.explanation or err}",
                                   logs) from None
            if isinstance(err, ServiceError):
                raise ServiceError(str(err), logs) from None
            raise
        return group

    def _start_one(self, spec: ServiceSpec, group: ServiceGroup,
                   labels: dict[str, str]) -> ServiceEndpoint:
        api = self.client.api
        self._ensure_image(spec.image)
        if group.isolated:  # the first has no network; the others join its namespace
            mode, bindings, networking = (group.step_network if group.endpoints else "none",
                                          {}, None)
        else:
            mode, bindings = group.network, {p: ("127.0.0.1",) for p in spec.ports}
            networking = api.create_networking_config(
                {group.network: api.create_endpoint_config(aliases=[spec.name])})
        host_config = api.create_host_config(
            network_mode=mode, port_bindings=bindings, pids_limit=4096,
            security_opt=["no-new-privileges"], privileged=False)
        try:
            created = api.create_container(
                spec.image, command=list(spec.command) if spec.command else None,
                environment=dict(spec.env), labels={**labels, SERVICE_LABEL: spec.name,
                                                        GROUP_LABEL: group.network},
                ports=list(spec.ports), host_config=host_config, networking_config=networking,
                detach=True)
            api.start(created["Id"])
            info = api.inspect_container(created["Id"])
        except APIError as err:
            raise ServiceError(f"service {spec.name}: cannot start {spec.image}: "
                               f"{err.explanation or err}") from None
        ports = info["NetworkSettings"].get("Ports") or {}
        published = {p: int(ports[f"{p}/tcp"][0]["HostPort"]) for p in spec.ports
                     if ports.get(f"{p}/tcp")}
        return ServiceEndpoint(spec.name, created["Id"], published)

    def _ensure_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
            return
        except ImageNotFound:
            pass
        try:
            self.client.images.pull(image)
        except DockerException as err:
            raise ServiceError(f"image {image} is not on this machine and cannot be pulled "
                               f"({err}); build or `docker load` it here") from None

    def _wait_healthy(self, spec: ServiceSpec, endpoint: ServiceEndpoint, group: ServiceGroup,
                      cancel: threading.Event) -> None:
        deadline = time.monotonic() + spec.timeout
        while not self._ready(spec, endpoint, group):
            state = self.client.api.inspect_container(endpoint.container_id)["State"]
            if not state.get("Running"):
                raise ServiceError(f"service {spec.name} exited with code "
                                   f"{state.get('ExitCode')} before it was ready")
            if time.monotonic() >= deadline:
                raise ServiceError(f"service {spec.name} was not ready after {spec.timeout:g}s")
            if cancel.wait(PROBE_SECONDS):
                raise ServiceError(f"cancelled while waiting for service {spec.name}")

    def _ready(self, spec: ServiceSpec, endpoint: ServiceEndpoint, group: ServiceGroup) -> bool:
        if spec.health_command:
            return self._exec_ok(endpoint, spec.health_command) is not None
        if not spec.ports:
            return True  # nothing to probe: running is ready
        if group.isolated:  # no address to reach from here: ask its kernel what listens
            tables = self._exec_ok(endpoint, ("cat", "/proc/net/tcp", "/proc/net/tcp6"))
            return tables is not None and spec.ports[0] in listening_ports(tables)
        # the container's own address: a published port answers through Docker's proxy
        # before the service listens
        info = self.client.api.inspect_container(endpoint.container_id)
        address = info["NetworkSettings"]["Networks"].get(group.network, {}).get("IPAddress")
        if not address:
            return False
        try:
            with socket.create_connection((address, spec.ports[0]), timeout=1):
                return True
        except OSError:
            return False

    def _exec_ok(self, endpoint: ServiceEndpoint, command: Sequence[str]) -> str | None:
        """What command printed in the service, if it exited 0."""
        api = self.client.api
        try:
            exec_id = api.exec_create(endpoint.container_id, list(command))
            output = api.exec_start(exec_id)
            if api.exec_inspect(exec_id).get("ExitCode") != 0:
                return None
        except APIError:
            return None
        return output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)

    def logs(self, group: ServiceGroup, tail: int = 50) -> dict[str, str]:
        out = {}
        for endpoint in group.endpoints:
            with contextlib.suppress(NotFound, APIError):
                raw = self.client.api.logs(endpoint.container_id, tail=tail)
                out[endpoint.name] = raw.decode("utf-8", "replace")
        return out

    def remove(self, group: ServiceGroup) -> None:
        # by label: a container created but never started is not among the endpoints
        found = self.client.containers.list(
            all=True, filters={"label": f"{GROUP_LABEL}={group.network}"})
        for container in found:
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
        networks = self.client.networks.list(names=[group.network])
        _remove_networks([n for n in networks if n.name == group.network])
