"""gitflows.docker.Services: sidecar containers (databases, caches) for the tasks under it.

A gitflows extension (Kestra has no equivalent). The services start on a Docker network of
their own before the first child, answer container steps by name and process steps on a
127.0.0.1 port, and are removed when the task ends, whatever the way it ends.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.durations import parse_duration
from runner.events import State
from runner.model import Task
from runner.ports.services import ServiceError, ServiceGroup, ServiceHost, ServiceSpec
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.flow import handlers
from runner.tasks.registry import TypeDef

SERVICES = "gitflows.docker.Services"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")  # a DNS label, and an env variable once upper-cased
MAX_SERVICES = 10


@dataclass(frozen=True)
class Binding:
    """The running services a step under a Services task sees."""

    group: ServiceGroup
    specs: tuple[ServiceSpec, ...]

    def address(self, spec: ServiceSpec, in_container: bool) -> tuple[str, int | None]:
        port = spec.ports[0] if spec.ports else None
        if self.group.isolated:  # one loopback for the services and the steps
            return "127.0.0.1", port
        if in_container:
            return spec.name, port
        endpoint = next(e for e in self.group.endpoints if e.name == spec.name)
        return "127.0.0.1", endpoint.published.get(port) if port is not None else None

    def expressions(self) -> dict[str, Any]:
        """`services.<name>.host/port`: the address for process steps (the run's host)."""
        out: dict[str, Any] = {}
        for spec in self.specs:
            host, port = self.address(spec, in_container=False)
            out[spec.name] = {"name": spec.name, "host": host, "port": port,
                              "containerPort": spec.ports[0] if spec.ports else None}
        return out

    def env(self, in_container: bool) -> dict[str, str]:
        """SERVICE_<NAME>_HOST/_PORT, right for where the step runs."""
        out = {}
        for spec in self.specs:
            host, port = self.address(spec, in_container)
            key = spec.name.upper().replace("-", "_")
            out[f"SERVICE_{key}_HOST"] = host
            if port is not None:
                out[f"SERVICE_{key}_PORT"] = str(port)
        return out


_lock = threading.Lock()
_active: dict[str, Binding] = {}  # Services task run id → its services while it runs


def binding_for(task_run_ids: Iterable[str]) -> Binding | None:
    """The services of the innermost running Services task among these (a step's ancestors,
    nearest first)."""
    with _lock:
        return next((_active[i] for i in task_run_ids if i in _active), None)


def _specs(raw: Any, ctx: TaskContext) -> tuple[ServiceSpec, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise TaskFailed("services must map names to services")
    if len(raw) > MAX_SERVICES:
        raise TaskFailed(f"at most {MAX_SERVICES} services")
    specs = []
    for name, item in raw.items():
        if not _NAME.match(str(name)):
            raise TaskFailed(f"service name '{name}' must be lower-case letters, digits and -")
        props = ctx.render(dict(item))
        health = props.get("healthcheck") or {}
        command = props.get("command")
        check = health.get("command")
        specs.append(ServiceSpec(
            name=str(name), image=str(props["image"]),
            command=tuple(str(c) for c in command) if command else None,
            env={str(k): str(v) for k, v in (props.get("env") or {}).items()},
            ports=tuple(int(p) for p in props.get("ports") or ()),
            health_command=tuple(str(c) for c in check) if check else None,
            timeout=parse_duration(str(health.get("timeout", "PT60S"))).total_seconds()))
    return tuple(specs)


def run_services(task: Task, ctx: TaskContext) -> Outcome:
    specs = _specs(task.props.get("services"), ctx)
    connect: Callable[[], ServiceHost] | None = getattr(ctx, "service_host", None)
    if connect is None:
        raise TaskFailed("services need a Docker engine and this run has none")
    host = connect()
    names = ", ".join(s.name for s in specs)
    ctx.log("INFO", f"starting services {names}")
    try:
        group = host.start(ctx.execution_id, ctx.task_run_id, specs, ctx.untrusted, ctx.cancel)
    except ServiceError as err:
        _show_logs(ctx, err.logs)
        if ctx.cancel.is_set():
            return Outcome(State.KILLED)
        raise TaskFailed(str(err)) from None
    binding = Binding(group, specs)
    with _lock:
        _active[ctx.task_run_id] = binding
    try:
        ctx.log("INFO", f"services ready on network {group.network}: {names}")
        state = ctx.run_tasks(task.subtasks.get("tasks", ()))
        if state.failed and state is not State.KILLED:
            _show_logs(ctx, host.logs(group))
        state = handlers(task, ctx, state)
    finally:
        with _lock:
            _active.pop(ctx.task_run_id, None)
        host.remove(group)  # also on a kill or a timeout: the children return first
        ctx.log("INFO", f"services removed: {names}")
    return Outcome(state if state is not State.SKIPPED else State.SUCCESS,
                   {"network": group.network})


def _show_logs(ctx: TaskContext, logs: Mapping[str, str]) -> None:
    for name, text in logs.items():
        ctx.log("ERROR", f"service {name} logs (last lines):\n{text.rstrip()}")


_SERVICE = {"type": "object", "required": ["image"], "additionalProperties": False,
            "properties": {
                "image": {"type": "string"},
                "command": {"type": "array", "items": {"type": "string"}},
                "env": {"type": "object", "additionalProperties": {"type": ["string", "number",
                                                                           "boolean"]}},
                "ports": {"type": "array", "items": {"type": "integer", "minimum": 1,
                                                     "maximum": 65535}},
                "healthcheck": {"type": "object", "additionalProperties": False, "properties": {
                    "command": {"type": "array", "items": {"type": "string"}},
                    "timeout": {"$ref": "#/definitions/duration"}}}}}

TYPES = (
    TypeDef(name=SERVICES, kind="task",
            title="Run the tasks with sidecar service containers (databases, caches) beside them",
            properties={"services": {"type": "object", "minProperties": 1,
                                     "maxProperties": MAX_SERVICES,
                                     "propertyNames": {"pattern": _NAME.pattern},
                                     "additionalProperties": _SERVICE}},
            required=("services", "tasks"), run=run_services,
            task_slots=("tasks", "errors", "finally")),
)
