"""Script tasks (shell, python, node, and Kestra's other script families: ruby, r, julia, go,
perl, php, lua, powershell, deno, bun, jbang, groovy): commands or a script, in a container
(the family's image by default) or on the host.

Output protocol (Kestra): a stdout line `::{"outputs":{...}}::` sets outputs and
`::{"logs":[{"level":"INFO","message":"..."}]}::` adds log lines.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.events import State
from runner.expressions.runtime import is_truthy
from runner.model import Task
from runner.ports.executor import ProcessSpec
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.containers import DOCKER_RUNNER, PROCESS_RUNNER, container_options, wants_container
from runner.tasks.files import collect_output_files, copy_namespace_files, write_input_files
from runner.tasks.registry import TypeDef

_POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})
_OUTPUT_LINE = re.compile(r"^::(\{.*\})::\s*$")
_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_OR_STRINGS = {"anyOf": [{"type": "string"}, _STRINGS]}

COMMON = {
    "containerImage": {"type": "string"},
    "taskRunner": {"$ref": "#/definitions/taskRunner"},
    "beforeCommands": _STRINGS,
    "interpreter": {**_STRINGS, "minItems": 1},
    "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "inputFiles": {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                             {"type": "string"}]},
    "outputFiles": _STRINGS,
    "namespaceFiles": {"type": "object"},
    "warningOnStdErr": {"type": "boolean"},
    "failFast": {"type": "boolean"},
    "targetOS": {"type": "string", "enum": ["LINUX", "WINDOWS", "AUTO"]},
    "docker": {"type": "object", "deprecated": True},
    "runner": {"type": "string", "enum": ["DOCKER", "PROCESS"], "deprecated": True},
    "pythonPath": {"type": "string", "deprecated": True},
    # gitflows extension, no Kestra property (runner/tasks/step_cache.py)
    "cache": {"type": "object", "required": ["key", "paths"], "additionalProperties": False,
              "description": "gitflows extension: restore paths before the step, save them after",
              "properties": {"key": {"type": "string", "minLength": 1},
                             "restoreKeys": _STRING_OR_STRINGS,
                             "paths": {"anyOf": [{"type": "string"}, {**_STRINGS, "minItems": 1}]}}},
}


def _parse_output_line(line: str, outputs: dict[str, Any], ctx: TaskContext) -> bool:
    match = _OUTPUT_LINE.match(line)
    if not match:
        return False
    try:
        payload = json.loads(match.group(1))
    except json.JSONDecodeError:
        return False
    if not isinstance(payload, dict):
        return False
    if isinstance(payload.get("outputs"), dict):
        outputs.update(payload["outputs"])
    for entry in payload.get("logs") or []:
        if isinstance(entry, dict):
            ctx.log(str(entry.get("level", "INFO")).upper(), str(entry.get("message", "")))
    return True


def _in_container(props: Mapping[str, Any], ctx: TaskContext) -> bool:
    return bool(ctx.containers and (ctx.untrusted or wants_container(props)))


def _execute(task: Task, ctx: TaskContext, body: list[str], default_image: str) -> Outcome:
    """The step, with its `cache` (runner/tasks/step_cache.py) around it when it has one."""
    if not task.props.get("cache"):
        return _run_step(task, ctx, body, default_image)
    from runner.tasks.step_cache import open_for

    cache = open_for(task.props, ctx, _in_container(task.props, ctx))
    cache.restore()
    outcome = _run_step(task, ctx, body, default_image)
    if outcome.state in (State.SUCCESS, State.WARNING):
        cache.save()
    return Outcome(outcome.state, {**outcome.outputs, "cache": dict(cache.info)})


def _run_step(task: Task, ctx: TaskContext, body: list[str], default_image: str) -> Outcome:
    props = task.props
    if "pythonPath" in props:
        ctx.log("WARN", "pythonPath is ignored (Kestra removed it); use `interpreter` or a "
                        "containerImage that has the Python you need")
    copy_namespace_files(props, ctx)
    write_input_files(props, ctx)
    before = [str(c) for c in ctx.render(props.get("beforeCommands") or [])]
    interpreter = [str(p) for p in props.get("interpreter") or ["/bin/sh", "-c"]]
    shell = Path(interpreter[0]).name in _POSIX_SHELLS  # `set -e` means nothing to pwsh
    prologue = ["set -e"] if props.get("failFast", True) and shell else []
    env = {str(k): str(v) for k, v in ctx.render(props.get("env") or {}).items()}
    container = None
    if _in_container(props, ctx):
        image = str(ctx.render(props.get("containerImage") or _legacy_image(props) or default_image))
        runner = {k: props[k] for k in ("taskRunner", "docker") if k in props}
        container = container_options(ctx.render(runner), image)
    remaining = ctx.remaining()
    spec = ProcessSpec(
        command=(*interpreter, "\n".join([*prologue, *before, *body])),
        workdir=ctx.workdir,
        env=env,
        container=container,
        timeout=remaining.total_seconds() if remaining is not None else None,
    )
    outputs: dict[str, Any] = {}
    saw_stderr = False

    def on_line(stream: str, line: str) -> None:
        nonlocal saw_stderr
        if stream == "stdout" and _parse_output_line(line, outputs, ctx):
            return
        saw_stderr = saw_stderr or stream == "stderr"
        ctx.log("INFO" if stream == "stdout" else "WARN", line)

    result = ctx.run_process(spec, on_line)
    if result.killed:
        return Outcome(State.KILLED, outputs)
    if result.timed_out:
        raise TaskFailed(f"timed out after {spec.timeout:.1f}s; the process was killed")
    # Kestra keeps a script's `::{"outputs":…}::` values under `vars` (outputs.<task>.vars.x);
    # they stay readable at the top level too (outputs.<task>.x), as this runner always had
    outputs.setdefault("vars", dict(outputs))
    outputs["exitCode"] = result.exit_code
    files = collect_output_files(props, ctx)
    if files:
        outputs["outputFiles"] = files
    if result.exit_code != 0:
        raise TaskFailed(f"command exited with code {result.exit_code}")
    warn = saw_stderr and props.get("warningOnStdErr", False)
    return Outcome(State.WARNING if warn else State.SUCCESS, outputs)


def _legacy_image(props: Mapping[str, Any]) -> str | None:
    docker = props.get("docker")
    return str(docker["image"]) if isinstance(docker, dict) and "image" in docker else None


def _commands(default_image: str, interpreter: tuple[str, ...] = ()) -> Any:
    def run(task: Task, ctx: TaskContext) -> Outcome:
        commands = ctx.render(task.props["commands"])
        body = [commands] if isinstance(commands, str) else [str(c) for c in commands]
        if interpreter and "interpreter" not in task.props:  # PowerShell's commands are not sh
            task = replace(task, props={**task.props, "interpreter": list(interpreter)})
        return _execute(task, ctx, body, default_image)
    return run


def _script(default_image: str, suffix: str, launcher: str) -> Any:
    def run(task: Task, ctx: TaskContext) -> Outcome:
        script = str(ctx.render(task.props["script"]))
        extension = suffix
        if "extension" in task.props:  # jbang: .java, .jsh, .kt, .groovy, .md
            extension = _extension(ctx.render(task.props["extension"]))
        name = f".gitflows-{task.id}{extension}"
        Path(ctx.workdir, name).write_text(script, encoding="utf-8")
        if launcher == _JBANG:
            line = _jbang_line(shlex.quote(name), is_truthy(ctx.render(task.props.get("quiet", True))))
        else:
            line = f"{launcher} {shlex.quote(name)}"
        return _execute(task, ctx, [line], default_image)
    return run


def _extension(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"\.?[A-Za-z0-9]{1,10}", text):
        raise TaskFailed(f"extension must be a file name suffix such as .java, got '{text}'")
    return text if text.startswith(".") else f".{text}"


def _jbang_line(name: str, quiet: bool) -> str:
    """jbang where it is installed (its image, or a host that has it); elsewhere a .java
    script still runs on a JDK alone: `java Main.java` compiles and runs one source file."""
    flag = " --quiet" if quiet else ""
    return (f"if command -v jbang >/dev/null 2>&1; then jbang{flag} {name}; "
            f"else java {name}; fi")


_JBANG = "jbang"
_PYTHON = '"$(command -v python3 || command -v python)"'
_FAMILIES = {
    # family: (default image, script suffix, script launcher)
    "shell": ("ubuntu", ".sh", "/bin/sh"),
    "python": ("python:3.11-slim", ".py", _PYTHON),
    "node": ("node", ".js", "node"),
    "ruby": ("ruby", ".rb", "ruby"),
    "r": ("r-base", ".R", "Rscript"),
    "julia": ("julia", ".jl", "julia"),
    "go": ("golang", ".go", "go run"),
    "perl": ("perl", ".pl", "perl"),
    "php": ("php", ".php", "php"),
    "lua": ("nickblah/lua", ".lua", "lua"),
    "powershell": ("mcr.microsoft.com/powershell", ".ps1", "pwsh -NoProfile -File"),
    "deno": ("denoland/deno", ".ts", "deno run --allow-all"),
    "bun": ("oven/bun", ".ts", "bun run"),
    "jbang": ("jbangdev/jbang-action", ".java", _JBANG),
    "groovy": ("groovy", ".groovy", "groovy"),
}
_JBANG_SCRIPT = {"extension": {"type": "string"}, "quiet": {"type": ["boolean", "string"]}}
_INTERPRETERS = {"powershell": ("pwsh", "-NoProfile", "-NonInteractive", "-Command")}


def _family_types() -> list[TypeDef]:
    defs = []
    for family, (image, suffix, launcher) in _FAMILIES.items():
        base = f"io.kestra.plugin.scripts.{family}"
        defs.append(TypeDef(
            name=f"{base}.Commands", kind="task",
            title=f"Run {family} commands, in a container ({image} by default) or on the host",
            properties={**COMMON, "commands": {**_STRING_OR_STRINGS}},
            required=("commands",), run=_commands(image, _INTERPRETERS.get(family, ())),
            aliases=("io.kestra.core.tasks.scripts.Bash",) if family == "shell" else (),
        ))
        defs.append(TypeDef(
            name=f"{base}.Script", kind="task",
            title=f"Run an inline {family} script, in a container ({image} by default) or on the host",
            properties={**COMMON, "script": {"type": "string", "minLength": 1},
                        **(_JBANG_SCRIPT if family == "jbang" else {})},
            required=("script",), run=_script(image, suffix, launcher),
        ))
    defs.append(TypeDef(
        name="io.kestra.plugin.scripts.exec.Commands", kind="task",
        title="Run commands with any interpreter (set `interpreter` and `containerImage`)",
        properties={**COMMON, "commands": {**_STRING_OR_STRINGS}},
        required=("commands",), run=_commands("ubuntu"),
    ))
    return defs


RUNNER_TYPES = (
    TypeDef(
        name=DOCKER_RUNNER, kind="runner", title="Run the task in a Docker container",
        properties={
            "pullPolicy": {"type": "string", "enum": ["IF_NOT_PRESENT", "ALWAYS", "NEVER"]},
            "networkMode": {"type": "string"}, "cpu": {"type": "object"},
            "memory": {"type": "object"}, "user": {"type": "string"},
            "entryPoint": {"type": "array", "items": {"type": "string"}},
            "volumes": {"type": "array", "items": {"type": "string"}},
            "shmSize": {"type": ["string", "integer"]}, "host": {"type": "string"},
            "reuseContainer": {"type": "boolean"},
            "config": {"anyOf": [{"type": "string"}, {"type": "object"}]},
            "credentials": {"type": "object"}, "delete": {"type": "boolean"},
        },
    ),
    TypeDef(name=PROCESS_RUNNER, kind="runner", title="Run the task as a process on the host"),
)

TYPES = (*_family_types(), *RUNNER_TYPES)
