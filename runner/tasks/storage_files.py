"""Kestra's storage.* tasks on the execution's own files: Write, Concat, Split, Size,
Reverse, Delete, PurgeCurrentExecutionFiles. A file URI is what an earlier task's output
holds (outputs.<task>.uri); only this execution's files are read (TaskContext.local_file)."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

STORAGE = "io.kestra.plugin.core.storage"
LEGACY = "io.kestra.core.tasks.storages"
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?B?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3,
          "GB": 1024**3, "T": 1024**4, "TB": 1024**4}


def store(ctx: TaskContext, data: bytes, name: str) -> str:
    """Write data as one of this task run's output files; its URI (a path)."""
    scratch = ctx.workdir / f".gitflows-out-{uuid.uuid4().hex}"
    scratch.write_bytes(data)
    try:
        return str(ctx.keep_artifact(scratch, name))
    finally:
        scratch.unlink(missing_ok=True)


def _extension(value: Any, default: str) -> str:
    text = str(value or default)
    if "/" in text or "\\" in text or ".." in text:
        raise TaskFailed(f"extension must be a file name suffix such as .csv, got '{text}'")
    return text if text.startswith(".") else f".{text}"


def run_write(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    content = props["content"]
    text = content if isinstance(content, str) else json.dumps(content)
    return Outcome(State.SUCCESS, {"uri": store(ctx, text.encode(), "content"
                                                + _extension(props.get("extension"), ".tmp"))})


def _uri_list(raw: Any) -> list[str]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = [raw]
    if not isinstance(raw, list):
        raise TaskFailed("files must be a list of file URIs or a JSON array of them")
    return [str(item) for item in raw]


def run_concat(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    separator = str(props.get("separator") or "").encode()  # after every file, as Kestra does
    data = b"".join(ctx.local_file(uri).read_bytes() + separator
                    for uri in _uri_list(props["files"]))
    name = "concat" + _extension(props.get("extension"), ".tmp")
    return Outcome(State.SUCCESS, {"uri": store(ctx, data, name)})


def _bytes(text: str) -> int:
    match = _SIZE.match(text)
    if not match or int(match.group(1)) == 0:
        raise TaskFailed(f"bytes must be a size such as 10KB or 1MB, got '{text}'")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def chunks(lines: list[bytes], props: dict[str, Any]) -> list[list[bytes]]:
    """Lines grouped by exactly one of rows, partitions (round robin) or bytes."""
    given = [k for k in ("bytes", "partitions", "rows", "regexPattern")
             if props.get(k) is not None]
    if len(given) != 1:
        raise TaskFailed("give exactly one of bytes, partitions, rows or regexPattern")
    if given == ["regexPattern"]:
        return _by_pattern(lines, str(props["regexPattern"]))
    if given == ["rows"]:
        size = int(props["rows"])
        return [lines[i:i + size] for i in range(0, len(lines), max(size, 1))]
    if given == ["partitions"]:
        count = max(int(props["partitions"]), 1)
        return [part for part in (lines[i::count] for i in range(count)) if part]
    limit, used = _bytes(str(props["bytes"])), 0
    chunks: list[list[bytes]] = []
    current: list[bytes] = []
    for line in lines:
        if current and used + len(line) > limit:
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += len(line)
    return [*chunks, current] if current else chunks


def _by_pattern(lines: list[bytes], pattern: str) -> list[list[bytes]]:
    """Lines grouped by what the pattern's first group (or whole match) captures in them."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise TaskFailed(f"regexPattern '{pattern}' is not a regular expression: {err}") from None
    groups: dict[str, list[bytes]] = {}
    for line in lines:
        found = regex.search(line.decode("utf-8", "replace"))
        key = (found.group(1) if found and regex.groups else found.group(0)) if found else ""
        groups.setdefault(key or "", []).append(line)
    return list(groups.values())


def run_split(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    separator = str(props.get("separator") or "\n").encode()
    data = ctx.local_file(str(props["from"])).read_bytes()
    lines = [line + separator for line in data.split(separator)]
    if lines and lines[-1] == separator:
        lines.pop()  # the file ended with a separator
    extension = Path(str(props["from"])).suffix or ".tmp"
    uris = [store(ctx, b"".join(chunk), f"split-{i}{extension}")
            for i, chunk in enumerate(chunks(lines, props))]
    return Outcome(State.SUCCESS, {"uris": uris})


def run_size(task: Task, ctx: TaskContext) -> Outcome:
    uri = str(ctx.render(task.props["uri"]))
    return Outcome(State.SUCCESS, {"size": ctx.local_file(uri).stat().st_size})


def run_reverse(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    separator = str(props.get("separator") or "\n")
    text = ctx.local_file(str(props["from"])).read_text(encoding=str(props.get("charset")
                                                                       or "utf-8"))
    lines = text.split(separator)
    if lines and lines[-1] == "":
        lines.pop()
    reversed_text = "".join(line + separator for line in reversed(lines))
    name = "reverse" + _extension(props.get("extension"), ".tmp")
    return Outcome(State.SUCCESS, {"uri": store(ctx, reversed_text.encode(), name)})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    uri = str(props["uri"])
    try:
        path = ctx.local_file(uri)
    except TaskFailed:
        if props.get("errorOnMissing", False):
            raise TaskFailed(f"no file '{uri}' in this execution's storage") from None
        return Outcome(State.SUCCESS, {"uri": uri, "deleted": False})
    path.unlink()
    return Outcome(State.SUCCESS, {"uri": uri, "deleted": True})


def run_purge_current(task: Task, ctx: TaskContext) -> Outcome:
    root = ctx.execution_files()
    files = sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    shutil.rmtree(root, ignore_errors=True)
    ctx.log("INFO", f"deleted {len(files)} file(s) of execution {ctx.execution_id}")
    return Outcome(State.SUCCESS, {"uris": files})


_FROM = {"from": {"type": "string"}}


def _storage(name: str, title: str, run: Any, properties: dict[str, Any],
             required: tuple[str, ...]) -> TypeDef:
    return TypeDef(name=f"{STORAGE}.{name}", kind="task", title=title, properties=properties,
                   required=required, run=run, aliases=(f"{LEGACY}.{name}",))


TYPES = (
    _storage("Write", "Write content to a new file (output `uri`)", run_write,
             {"content": {}, "extension": {"type": "string"}}, ("content",)),
    _storage("Concat", "Concatenate files into one (output `uri`)", run_concat,
             {"files": {"anyOf": [{"type": "string"}, {"type": "array"}]},
              "separator": {"type": "string"}, "extension": {"type": "string"}}, ("files",)),
    _storage("Split", "Split a file by bytes, partitions or rows (output `uris`)", run_split,
             {**_FROM, "bytes": {"type": "string"}, "partitions": {"type": ["integer", "string"]},
              "rows": {"type": ["integer", "string"]}, "separator": {"type": "string"},
              "regexPattern": {"type": "string"}},
             ("from",)),
    _storage("Size", "The size of a file in bytes (output `size`)", run_size,
             {"uri": {"type": "string"}}, ("uri",)),
    _storage("Reverse", "Reverse the lines of a file (output `uri`)", run_reverse,
             {**_FROM, "extension": {"type": "string"}, "separator": {"type": "string"},
              "charset": {"type": "string"}}, ("from",)),
    _storage("Delete", "Delete a file of this execution (outputs `uri`, `deleted`)", run_delete,
             {"uri": {"type": "string"}, "errorOnMissing": {"type": "boolean"}}, ("uri",)),
    _storage("PurgeCurrentExecutionFiles", "Delete every file of this execution (output `uris`)",
             run_purge_current, {}, ()),
)
