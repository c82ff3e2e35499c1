"""io.kestra.plugin.fs.local.Trigger: watch a local (or NFS) directory for new or changed files.

Polling, not inotify (which sees nothing of changes made by other NFS clients). Each poll
lists `from`, compares every file's (mtime, size) with the state kept in the trigger's
cursor and fires ONE run for all new/changed files (Kestra's batch semantics:
`trigger.files`, `trigger.count`). Each fired file is copied into the trigger's own
directory first, so the run still finds it after a MOVE or DELETE.

Exactly once: the state moves forward only with the committed batch (runner.ports.polling). The
MOVE/DELETE `action` runs in finish(True), after the runs are committed; if the server dies
in between, the file is still there with the (mtime, size) the cursor holds as fired, so the
next poll does not fire it again: it only completes the action.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.expressions.runtime import is_truthy
from runner.ports.polling import TRIGGER_PROPERTIES, Batch, TriggerContext, TriggerEvent
from runner.tasks.registry import TypeDef

ACTIONS = ("MOVE", "DELETE", "NONE")
ON = ("CREATE", "UPDATE", "CREATE_OR_UPDATE")
DEFAULT_MAX_FILES = 25
SETTLE_SECONDS = 1.0  # a file modified this recently may still be being written: next poll
COPY_TTL = dt.timedelta(days=7)  # copies handed to runs are kept this long
COPIES = "copies"


def digest(*parts: str) -> str:
    """A short stable name for a list of strings (event keys, copy directories)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def copy_for_run(work_dir: Path, key: str, name: str) -> Path:
    """Where the copy handed to a run goes: its own directory under the trigger's."""
    target = work_dir / COPIES / key / (name or "file")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def prune_copies(work_dir: Path, ttl: dt.timedelta = COPY_TTL) -> None:
    """Drop copies older than ttl (runs are expected to have read them by then)."""
    root = work_dir / COPIES
    if not root.is_dir():
        return
    oldest = time.time() - ttl.total_seconds()
    for entry in root.iterdir():
        try:
            if entry.stat().st_mtime < oldest:
                shutil.rmtree(entry, ignore_errors=True)
        except FileNotFoundError:
            continue


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def choice(props: Mapping[str, Any], name: str, options: tuple[str, ...], default: str) -> str:
    value = str(props.get(name) or default).upper()
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, got '{value}'")
    return value


def regex_property(props: Mapping[str, Any], name: str) -> re.Pattern[str] | None:
    """The compiled regular expression of property `name`, None when unset."""
    raw = props.get(name)
    try:
        return re.compile(str(raw)) if raw else None
    except re.error as err:
        raise ValueError(f"{name} '{raw}': {err}") from None


@dataclass(frozen=True)
class Seen:
    path: Path
    mtime_ns: int
    size: int
    stat: os.stat_result

    @property
    def signature(self) -> list[int]:
        return [self.mtime_ns, self.size]


def _inside(path: Path, directory: Path | None) -> bool:
    return directory is not None and (path == directory or directory in path.parents)


def scan(root: Path, pattern: re.Pattern[str] | None, recursive: bool,
         skip: Path | None) -> Iterator[Seen]:
    """The regular files under root whose name fully matches pattern (skip: MOVE's target)."""
    walker: Iterable[tuple[str, list[str], list[str]]] = os.walk(root) if recursive else \
        [next(os.walk(root), (str(root), [], []))]
    for folder, dirs, names in walker:
        dirs[:] = sorted(d for d in dirs if not _inside(Path(folder, d), skip))
        for name in sorted(names):
            if pattern is not None and not pattern.fullmatch(name):
                continue
            path = Path(folder, name)
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while listing
                continue
            if path.is_file():
                yield Seen(path, stat.st_mtime_ns, stat.st_size, stat)


def apply_action(path: Path, action: str, move_dir: Path | None) -> Path:
    """MOVE or DELETE one file; where it is afterwards."""
    if action == "DELETE":
        path.unlink(missing_ok=True)
        return path
    if action == "MOVE" and move_dir is not None:
        move_dir.mkdir(parents=True, exist_ok=True)
        target = move_dir / path.name
        shutil.move(str(path), str(target))
        return target
    return path


def _settings(ctx: TriggerContext) -> tuple[Path, Path | None, str, str, re.Pattern[str] | None]:
    props = ctx.props
    root = Path(str(props.get("from") or ""))
    if not root.is_absolute():
        raise ValueError(f"from must be an absolute directory path, got '{root}'")
    action = choice(props, "action", ACTIONS, "NONE")
    on = choice(props, "on", ON, "CREATE_OR_UPDATE")
    move_dir = Path(str(props["moveDirectory"])) if props.get("moveDirectory") else None
    if action == "MOVE" and (move_dir is None or not move_dir.is_absolute()):
        raise ValueError("action MOVE needs moveDirectory, an absolute directory path")
    matching = regex_property(props, "regExp")
    if not root.is_dir():
        raise FileNotFoundError(f"from: {root} is not a directory")
    return root, move_dir, action, on, matching


def poll_local(ctx: TriggerContext) -> Batch:
    root, move_dir, action, on, pattern = _settings(ctx)
    max_files = int(ctx.props.get("maxFiles") or DEFAULT_MAX_FILES)
    old: dict[str, list[int]] = dict((ctx.cursor or {}).get("files") or {})
    listed = {str(s.path): s for s in scan(root, pattern, is_truthy(ctx.props.get("recursive")),
                                           move_dir if action == "MOVE" else None)}
    state = {p: sig for p, sig in old.items() if p in listed}  # forget what is gone
    pending: list[Path] = []  # fired and committed, but the server stopped before the action
    candidates: list[tuple[Seen, str]] = []
    now = time.time()
    for path, seen in listed.items():
        before = state.get(path)
        if before is not None and before[:2] == seen.signature:
            if action != "NONE" and before[2:] == [1]:
                pending.append(seen.path)
            continue
        if 0 <= now - seen.stat.st_mtime < SETTLE_SECONDS:
            continue
        change = "CREATE" if before is None else "UPDATE"
        if on in (change, "CREATE_OR_UPDATE"):
            candidates.append((seen, change))
        else:  # remembered as the version to compare with, not fired
            state[path] = [*seen.signature, 0]
    for done in pending:  # safe now: their runs were committed with the cursor
        try:
            apply_action(done, action, move_dir)
        except OSError as err:  # tried again next poll; new files still fire
            ctx.log("ERROR", f"{action} {done}: {err}")
            continue
        state.pop(str(done), None)
    candidates.sort(key=lambda c: (c[0].mtime_ns, str(c[0].path)))
    if len(candidates) > max_files:
        ctx.log("WARN", f"{len(candidates)} files to process, {max_files} this poll (maxFiles)")
    fired: list[tuple[Seen, str, Path]] = []
    for seen, change in candidates[:max_files]:
        copy = copy_for_run(ctx.work_dir, digest(str(seen.path), *map(str, seen.signature)),
                            seen.path.name)
        try:
            shutil.copy2(seen.path, copy)
        except FileNotFoundError:  # gone since listed: nothing to hand over
            continue
        fired.append((seen, change, copy))
        state[str(seen.path)] = [*seen.signature, 1]
    prune_copies(ctx.work_dir)
    cursor = {"v": 1, "files": state} if state != old else None
    if not fired:
        return Batch(cursor=cursor)
    files = [_describe(seen, change, copy, action, move_dir) for seen, change, copy in fired]
    key = digest(*(f"{s.path}:{s.mtime_ns}:{s.size}" for s, _, _ in fired))
    event = TriggerEvent(key, {"files": files, "count": len(files)})

    def finish(committed: bool) -> None:
        if committed and action != "NONE":
            for seen, _, _ in fired:
                try:
                    apply_action(seen.path, action, move_dir)
                except OSError as err:  # the next poll finds it fired and tries again
                    ctx.log("ERROR", f"{action} {seen.path}: {err}")

    return Batch([event], cursor, finish)


def _describe(seen: Seen, change: str, copy: Path, action: str,
              move_dir: Path | None) -> dict[str, Any]:
    """Kestra's File (plus changeType) and `path`: where the file was when it was seen."""
    local = move_dir / seen.path.name if action == "MOVE" and move_dir is not None else seen.path
    stat = seen.stat
    return {"path": str(seen.path), "localPath": str(local), "uri": str(copy),
            "name": seen.path.name, "parent": str(local.parent), "size": seen.size,
            "createdDate": iso(getattr(stat, "st_birthtime", stat.st_ctime)),
            "modifiedDate": iso(stat.st_mtime), "accessedDate": iso(stat.st_atime),
            "directory": False, "changeType": change}


_STRING = {"type": "string"}
TYPES = (
    TypeDef(name="io.kestra.plugin.fs.local.Trigger", kind="trigger",
            title="Start a run for new or changed files in a local or NFS directory (polling)",
            properties={**TRIGGER_PROPERTIES, "from": _STRING, "regExp": _STRING,
                        "recursive": {"type": ["boolean", "string"]},
                        "action": {"type": "string", "enum": list(ACTIONS)},
                        "moveDirectory": _STRING, "on": {"type": "string", "enum": list(ON)},
                        "maxFiles": {"type": ["integer", "string"]},
                        "stateKey": _STRING, "stateTtl": _STRING},
            required=("from",), poll=poll_local),
)
