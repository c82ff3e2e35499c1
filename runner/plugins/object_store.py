"""What the object-store families (S3, Google Cloud Storage, Azure Blob) share: the new-object
trigger, Kestra's listing filter, and where a task's upload sources come from.

The trigger lists a container every `interval`, downloads what it found, fires ONE execution
with the objects and then applies `action` (MOVE, DELETE, NONE), as Kestra does. It is
exactly-once even with action NONE: the cursor keeps a digest of every (key, ETag) already
fired that is still listed (pruned each poll to what still exists), so an object fires once per
version. The action runs in finish(True), after the runs and the cursor are committed; if the
server dies in between, the objects are still listed with digests the cursor holds, so the
next poll fires nothing again and only completes their action.

No client library here: each family module stays the one importer of its own and hands the
calls in as a `StoreOps`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from runner.plugins.queue_common import pause_for_tests
from runner.ports.polling import MAX_POLL_SECONDS, Batch, TriggerContext, TriggerEvent
from runner.ports.task import TaskContext, TaskFailed
from runner.tasks.files import NSFILE
from runner.tasks.fs_local import choice, copy_for_run, digest, prune_copies, regex_property

ACTIONS = ("MOVE", "DELETE", "NONE")
FILTERS = ("FILES", "DIRECTORY", "BOTH")
DEFAULT_MAX_FILES = 25


@dataclass(frozen=True)
class Listed:
    key: str
    etag: str
    size: int
    last_modified: str  # ISO-8601
    owner: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None  # the family's own fields (contentType …)
    version: str = ""  # a generation or version id where the store has one beside the ETag

    @property
    def digest(self) -> str:
        return digest(self.key, self.etag, self.version) if self.version else digest(self.key, self.etag)


class StoreOps(Protocol):
    def list_all(self, bucket: str, prefix: str | None, delimiter: str | None,
                 start_after: str | None, page_size: int) -> Iterator[Listed]: ...

    def download(self, bucket: str, key: str, target: Path) -> None: ...

    def move(self, bucket: str, key: str, to_bucket: str, to_key: str) -> None: ...

    def delete(self, bucket: str, key: str) -> None: ...


def keep(key: str, regexp: re.Pattern[str] | None, kind: str, full: str | None = None) -> bool:
    """Kestra's List filter: the regexp matches the whole key (or the whole `full` URI, as the
    GCS and Azure plugins document it); a directory key ends in '/'."""
    if regexp is not None and not regexp.fullmatch(key) and not (full and regexp.fullmatch(full)):
        return False
    return kind == "BOTH" or (kind == "DIRECTORY") == key.endswith("/")


def moved_key(move_to_key: str, key: str) -> str:
    """Kestra's MOVE target: moveTo.key as a directory, plus the object's file name."""
    return move_to_key.rstrip("/") + "/" + PurePosixPath(key).name


@dataclass(frozen=True)
class Settings:
    bucket: str
    prefix: str | None
    action: str
    move_bucket: str
    move_key: str
    regexp: re.Pattern[str] | None
    kind: str
    max_files: int
    scheme: str = "s3"  # of the object URIs handed to runs: s3, gs, azure (…://container/key)
    delimiter: str | None = None
    start_after: str | None = None
    page_size: int = 1000

    @classmethod
    def of(cls, props: Mapping[str, Any], scheme: str = "s3", *, bucket: str | None = None,
           prefix: str | None = None, move: tuple[str, str] | None = None,
           regexp_property: str = "regexp") -> Settings:
        """From Kestra's property names; a family whose names differ (GCS's gs:// URIs, Azure's
        container) passes what it parsed as bucket, prefix and move (bucket, key)."""
        bucket = bucket if bucket is not None else str(props.get("bucket") or "")
        if not bucket:
            raise ValueError("bucket is required")
        action = choice(props, "action", ACTIONS, "NONE")
        if move is None:
            move_to = props.get("moveTo") or {}
            if not isinstance(move_to, Mapping):
                raise ValueError("moveTo must be a map with key (and bucket)")
            move = (str(move_to.get("bucket") or bucket), str(move_to.get("key") or ""))
        if action == "MOVE" and not move[1]:
            raise ValueError("action MOVE needs a destination (moveTo / moveDirectory)")
        if prefix is None and props.get("prefix"):
            prefix = str(props["prefix"])
        return cls(bucket, prefix or None, action, move[0] or bucket, move[1],
                   regex_property(props, regexp_property), choice(props, "filter", FILTERS, "BOTH"),
                   int(props.get("maxFiles") or DEFAULT_MAX_FILES), scheme,
                   str(props["delimiter"]) if props.get("delimiter") else None,
                   str(props["marker"]) if props.get("marker") else None,
                   int(props.get("maxKeys") or 1000))

    def moved_here(self, key: str) -> bool:
        """Objects MOVE put in the watched bucket are not new objects."""
        return (self.action == "MOVE" and self.move_bucket == self.bucket
                and key.startswith(self.move_key.rstrip("/") + "/"))

    def apply(self, ops: StoreOps, key: str) -> None:
        if self.action == "DELETE":
            ops.delete(self.bucket, key)
        elif self.action == "MOVE":
            ops.move(self.bucket, key, self.move_bucket, moved_key(self.move_key, key))

    def where(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    def uri(self, key: str) -> str:
        """Where the object is once the action is done (DELETE: where it was)."""
        if self.action == "MOVE":
            return f"{self.scheme}://{self.move_bucket}/{moved_key(self.move_key, key)}"
        return self.where(key)

    def listed(self, ops: StoreOps) -> list[Listed]:
        return [o for o in ops.list_all(self.bucket, self.prefix, self.delimiter, self.start_after,
                                        self.page_size)
                if keep(o.key, self.regexp, self.kind, self.where(o.key)) and not self.moved_here(o.key)]


Describe = Callable[[Listed, Settings, Path], dict[str, Any]]


def s3_object(obj: Listed, settings: Settings, copy: Path) -> dict[str, Any]:
    """The S3 trigger's `trigger.objects[]` item."""
    return {"key": obj.key, "etag": obj.etag, "size": obj.size, "lastModified": obj.last_modified,
            "owner": obj.owner, "bucket": settings.bucket, "uri": settings.uri(obj.key),
            "path": str(copy)}


def blob_item(obj: Listed, settings: Settings, copy: Path) -> dict[str, Any]:
    """The GCS and Azure triggers' `trigger.blobs[]` item: the family's listing fields, the
    URI after the action and the downloaded copy."""
    return {**(obj.extra or {}), "uri": settings.uri(obj.key), "path": str(copy)}


def poll_blobs(ctx: TriggerContext, ops: StoreOps, settings: Settings) -> Batch:
    return poll(ctx, ops, settings, "blobs", blob_item)


def _complete_actions(ctx: TriggerContext, ops: StoreOps, settings: Settings, listed: list[Listed],
                      old: set[str]) -> set[str]:
    """The digests still to remember; objects fired and committed before whose action the
    server did not get to do (it stopped in between) get it now."""
    seen = old & {o.digest for o in listed}  # what is no longer listed can be forgotten
    for obj in (o for o in listed if o.digest in seen and settings.action != "NONE"):
        try:
            settings.apply(ops, obj.key)
            seen.discard(obj.digest)
        except Exception as err:  # tried again next poll; new objects still fire
            ctx.log("ERROR", ctx.mask(f"{settings.action} {settings.where(obj.key)}: {err}"))
    return seen


def poll(ctx: TriggerContext, ops: StoreOps, settings: Settings | None = None,
         output: str = "objects", describe: Describe = s3_object) -> Batch:
    started = time.monotonic()
    settings = settings or Settings.of(ctx.props)
    listed = settings.listed(ops)
    old = set((ctx.cursor or {}).get("seen") or [])
    seen = _complete_actions(ctx, ops, settings, listed, old)
    new = sorted((o for o in listed if o.digest not in old), key=lambda o: (o.last_modified, o.key))
    if len(new) > settings.max_files:
        ctx.log("WARN", f"{len(new)} new objects, {settings.max_files} this poll (maxFiles)")
    fired: list[tuple[Listed, Path]] = []
    for obj in new[:settings.max_files]:
        if fired and time.monotonic() - started > MAX_POLL_SECONDS * 2 / 3:
            break  # the rest fires next poll
        copy = copy_for_run(ctx.work_dir, obj.digest, PurePosixPath(obj.key).name)
        if not obj.key.endswith("/"):
            ops.download(settings.bucket, obj.key, copy)
        fired.append((obj, copy))
        seen.add(obj.digest)
    prune_copies(ctx.work_dir)
    cursor = {"v": 1, "seen": sorted(seen)} if seen != old else None
    if not fired:
        return Batch(cursor=cursor)
    pause_for_tests("object_polled")  # the crash window between this poll and its commit
    items = [describe(o, settings, copy) for o, copy in fired]
    event = TriggerEvent(digest(*(o.digest for o, _ in fired)), {output: items})

    def finish(committed: bool) -> None:
        if not committed or settings.action == "NONE":
            return
        for obj, _ in fired:
            try:
                settings.apply(ops, obj.key)
            except Exception as err:  # the next poll finds it fired and tries again
                ctx.log("ERROR", ctx.mask(f"{settings.action} {settings.where(obj.key)}: {err}"))

    return Batch([event], cursor, finish)


# -- tasks ---------------------------------------------------------------------------------

def task_timeout(ctx: TaskContext) -> float:
    remaining = ctx.remaining()
    return max(remaining.total_seconds(), 1.0) if remaining else 300.0


def sources(value: Any) -> list[str]:
    """Upload's from: a path, a list of paths, or a JSON array of paths."""
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value or "").strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise TaskFailed(f"from looks like a JSON array but is not: {err}") from None
        if not items:
            raise TaskFailed("No files to upload: empty array provided in 'from' property")
        return [str(v) for v in items]
    if not text:
        raise TaskFailed("from is required: a file to upload")
    return [text]


def local_file(source: str, ctx: TaskContext) -> Path:
    """A file to upload: nsfile:///path (repository), an absolute path (an artifact of an earlier
    task, a local file), or a path relative to the task's working directory or the checkout."""
    checkout = ctx.namespace_files.root if ctx.namespace_files is not None else None
    if source.startswith(NSFILE):
        if checkout is None:
            raise TaskFailed(f"from: {source} needs a repository checkout")
        candidates = [checkout / source[len(NSFILE):].lstrip("/")]
    elif source.startswith("file://"):
        candidates = [Path(source[len("file://"):])]
    else:
        path = Path(source)
        candidates = [path] if path.is_absolute() else \
            [ctx.workdir / path, *([checkout / path] if checkout is not None else [])]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise TaskFailed(f"from: no such file '{source}'")


def artifact_name(key: str) -> str:
    """Where a downloaded object is kept among the run's artifacts: its key, without '..'."""
    parts = [p for p in PurePosixPath(key).parts if p not in ("/", ".", "..")]
    return "/".join(parts) or "object"


def split_uri(uri: str, scheme: str) -> tuple[str, str]:
    """(bucket, key) of scheme://bucket/key; TaskFailed for anything else."""
    head, text = f"{scheme}://", str(uri)
    if not text.startswith(head) or not text[len(head):].split("/")[0]:
        raise TaskFailed(f"'{uri}' is not a {head}bucket/path URI")
    bucket, _, key = text[len(head):].partition("/")
    return bucket, key
