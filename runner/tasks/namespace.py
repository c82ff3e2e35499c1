"""Kestra's namespace files are, here, the repository's files at the run's commit: read them
with namespace.DownloadFiles; Kestra's UploadFiles and DeleteFiles change a server-side
store, which a commit does here (validated only)."""

from __future__ import annotations

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.beneath import UnsafePath, read_beneath
from runner.tasks.files import matches
from runner.tasks.registry import TypeDef, validated_only
from runner.tasks.storage_files import store

NS = "io.kestra.plugin.core.namespace"
_COMMIT = ("namespace files are the repository's files at the run's commit, read-only to a "
           "run; change them with a commit (or write run files with storage.Write)")
_FILES = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def run_download(task: Task, ctx: TaskContext) -> Outcome:
    """Namespace files matching `files` (globs) as this task's output files (`files`)."""
    props = ctx.render(dict(task.props))
    namespace = str(props.get("namespace") or ctx.namespace)
    if namespace != ctx.namespace:
        raise TaskFailed(f"namespace {namespace}: a run reads the files of its own repository "
                         f"(namespace {ctx.namespace}) only")
    if ctx.namespace_files is None:
        raise TaskFailed("namespace.DownloadFiles needs a repository checkout")
    raw = props["files"]
    patterns = [str(p).lstrip("/") for p in (raw if isinstance(raw, list) else [raw])]
    destination = str(props.get("destination") or "").strip("/")
    found: dict[str, str] = {}
    for rel in ctx.namespace_files.paths():
        if not matches(rel, patterns):
            continue
        try:
            data = read_beneath(ctx.namespace_files.root, rel)
        except UnsafePath as err:
            ctx.log("WARN", f"{rel} not downloaded: {err.strerror}")
            continue
        name = f"{destination}/{rel}" if destination else rel
        found[f"/{name}"] = store(ctx, data, name)
    ctx.log("INFO", f"downloaded {len(found)} namespace file(s)")
    return Outcome(State.SUCCESS, {"files": found})


TYPES = (
    TypeDef(name=f"{NS}.DownloadFiles", kind="task",
            title="Copy repository (namespace) files matching globs to output files (`files`)",
            properties={"namespace": {"type": "string"}, "files": _FILES,
                        "destination": {"type": "string"}},
            required=("files",), run=run_download),
    validated_only(f"{NS}.UploadFiles", "task", "Upload files to Kestra's namespace storage",
                   _COMMIT, {"namespace": {"type": "string"}, "files": {},
                             "filesMap": {}, "destination": {"type": "string"},
                             "conflict": {"type": "string"}}),
    validated_only(f"{NS}.DeleteFiles", "task", "Delete files of Kestra's namespace storage",
                   _COMMIT, {"namespace": {"type": "string"}, "files": _FILES}, ("files",)),
)
