"""gitflows.artifacts.Upload / Download: files one run publishes under a name and a later run
of any flow of the same repository fetches, by branch (its latest publish there) or by
execution id, as GitHub's upload-artifact/download-artifact do. A gitflows extension (Kestra
has none); the store is runner.tasks.artifact_store.

An untrusted run (a fork's pull request) may download, and publishes only as untrusted:
a trusted run never reads what it published, whatever the name, branch or execution id.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.durations import parse_duration
from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, RunSource, TaskContext, TaskFailed
from runner.tasks.artifact_store import (
    DEFAULT_RETENTION,
    NAME,
    ArtifactError,
    ArtifactStore,
    Publish,
    check_size,
    safe_relative,
)
from runner.tasks.beneath import UnsafePath, copy_beneath, copy_into_beneath, links, regular_files
from runner.tasks.files import matches
from runner.tasks.registry import TypeDef

ARTIFACTS = "gitflows.artifacts"


def _store(ctx: TaskContext) -> tuple[ArtifactStore, RunSource]:
    source = ctx.run_source()
    if source is None:
        raise TaskFailed("artifacts belong to a repository, and this run has none (run it with "
                         "flows run in a git work tree, flows ci or flows serve)")
    return ArtifactStore.for_repo(ctx.data_dir(), source.repo), source


def _entries(raw: Any) -> list[str] | dict[str, str]:
    """files: a list of globs / file URIs, or a map name → URI (a step's outputFiles)."""
    if isinstance(raw, str) and raw.strip()[:1] in ("[", "{"):
        with contextlib.suppress(json.JSONDecodeError):
            raw = json.loads(raw)
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list) and raw:
        return [str(item) for item in raw]
    raise TaskFailed("files must be a non-empty list of paths or globs in the working "
                     "directory, file URIs of this execution, or a map of name to URI")


def _is_uri(entry: str) -> bool:
    return entry.startswith(("file://", "/"))


def _stage_uri(ctx: TaskContext, uri: str, staging: Path) -> Path:
    path = ctx.local_file(uri)  # only this execution's own files
    target = staging / uuid.uuid4().hex
    try:
        copy_beneath(path.parent, path.name, target)
    except UnsafePath as err:
        raise TaskFailed(f"files: {uri}: {err.strerror}") from None
    return target


def _stage_globs(ctx: TaskContext, patterns: list[str], staged: dict[str, Path],
                 staging: Path) -> None:
    root = ctx.workdir.resolve()
    names = [rel for rel in regular_files(root) if not rel.startswith(".gitflows-")]
    for pattern in patterns:
        try:
            safe_relative(pattern)
        except ArtifactError as err:
            raise TaskFailed(f"files: {err}") from None
        found = [rel for rel in names if matches(rel, [pattern])]
        if not found:
            linked = [rel for rel in links(root) if matches(rel, [pattern])]
            why = " (only symbolic links, which are never published)" if linked else ""
            raise TaskFailed(f"files: no file in the working directory matches '{pattern}'{why}")
        for rel in found:
            if rel in staged:
                continue
            target = staging / str(len(staged))
            try:
                copy_beneath(root, rel, target)
            except UnsafePath as err:  # swapped for a link after the walk
                raise TaskFailed(f"files: {rel}: {err.strerror}") from None
            staged[rel] = target
            _check_size(staged)  # before copying more than a publish may hold


def _stage(ctx: TaskContext, entries: list[str] | dict[str, str], staging: Path
           ) -> dict[str, Path]:
    staged: dict[str, Path] = {}
    if isinstance(entries, dict):
        pairs = list(entries.items())
    else:
        pairs = [(Path(e.removeprefix("file://")).name, e) for e in entries if _is_uri(e)]
        _stage_globs(ctx, [e for e in entries if not _is_uri(e)], staged, staging)
    for rel, uri in pairs:
        try:
            rel = safe_relative(rel)
        except ArtifactError as err:
            raise TaskFailed(f"files: {err}") from None
        if rel in staged:
            raise TaskFailed(f"files: two files would be published as '{rel}'")
        staged[rel] = _stage_uri(ctx, uri, staging)
    return staged


def _check_size(staged: dict[str, Path]) -> None:
    try:
        check_size(sum(p.stat().st_size for p in staged.values()))
    except ArtifactError as err:
        raise TaskFailed(f"files: {err}") from None


def run_upload(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    name = str(props.get("name") or "")
    if not NAME.match(name):
        raise TaskFailed(f"name '{name}' must be letters, digits, '.', '_' or '-'")
    try:
        retention = parse_duration(str(props["retention"])) if props.get("retention") \
            else DEFAULT_RETENTION
    except ValueError as err:
        raise TaskFailed(f"retention: {err}") from None
    store, source = _store(ctx)
    staging = store.staging()
    try:
        staged = _stage(ctx, _entries(props.get("files")), staging)
        _check_size(staged)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    flow = ctx.render("{{ flow.namespace }}.{{ flow.id }}")
    who = Publish(source.branch, source.commit, ctx.execution_id, str(flow),
                  trusted=not ctx.untrusted, retention=retention)
    artifact = store.publish(name, staged, who)
    store.prune()
    ctx.log("INFO", f"published artifact {name} ({len(artifact.files)} files, {artifact.size} "
                    f"bytes) for branch {source.branch or '(none)'}"
            + (" as untrusted: trusted runs never read it" if ctx.untrusted else ""))
    return Outcome(State.SUCCESS, {
        "name": name, "id": artifact.id, "branch": source.branch, "commit": source.commit,
        "size": artifact.size, "files": {f.path: f.digest for f in artifact.files}})


def run_download(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    name = str(props.get("name") or "")
    if not NAME.match(name):
        raise TaskFailed(f"name '{name}' must be letters, digits, '.', '_' or '-'")
    store, source = _store(ctx)
    execution = str(props["execution"]) if props.get("execution") else None
    branch = None if execution else str(props.get("branch") or source.branch or "")
    if branch == "":
        raise TaskFailed("this run has no branch: give branch or execution")
    # an untrusted run may read what untrusted runs published; a trusted one never does
    artifact = store.find(name, branch=branch, execution=execution,
                          trusted_only=not ctx.untrusted)
    if artifact is None:
        where = f"execution {execution}" if execution else f"branch {branch}"
        raise TaskFailed(f"no artifact {name} for {where} in this repository")
    into = str(props.get("into") or ".")
    try:
        base = "" if into in (".", "./") else safe_relative(into)
    except ArtifactError as err:
        raise TaskFailed(f"into: {err}") from None
    fetched: dict[str, str] = {}
    for stored in artifact.files:
        rel = f"{base}/{stored.path}" if base else stored.path
        try:
            copy_into_beneath(store.blob(stored), ctx.workdir, rel)
        except (UnsafePath, ArtifactError) as err:
            raise TaskFailed(f"{rel}: {err}") from None
        fetched[stored.path] = str(ctx.keep_artifact(ctx.workdir / rel, stored.path))
    ctx.log("INFO", f"fetched artifact {name} of execution {artifact.execution} "
                    f"({len(fetched)} files) into {into}")
    return Outcome(State.SUCCESS, {
        "name": name, "id": artifact.id, "execution": artifact.execution, "flow": artifact.flow,
        "branch": artifact.branch, "commit": artifact.commit, "outputFiles": fetched})


_NAME = {"type": "string", "pattern": NAME.pattern,
         "description": "The artifact's name: letters, digits, '.', '_' or '-'."}
TYPES = (
    TypeDef(name=f"{ARTIFACTS}.Upload", kind="task",
            title="Publish files under a name for later runs of this repository's flows",
            properties={
                "name": _NAME,
                "files": {"description": "Paths or globs in the working directory, file URIs "
                                         "of this execution (outputs.x.outputFiles[...]), or a "
                                         "map of name to URI."},
                "retention": {"$ref": "#/definitions/duration",
                              "description": "How long it is kept (default P30D)."}},
            required=("name", "files"), run=run_upload),
    TypeDef(name=f"{ARTIFACTS}.Download", kind="task",
            title="Fetch the files a run published under a name (output outputFiles)",
            properties={
                "name": _NAME,
                "branch": {"type": "string", "description": "The latest publish on this branch "
                                                            "(default: this run's branch)."},
                "execution": {"type": "string", "description": "The publish of this execution."},
                "into": {"type": "string", "description": "A directory in the working "
                                                          "directory (default: itself)."}},
            required=("name",), run=run_download),
)
