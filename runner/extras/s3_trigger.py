"""io.kestra.plugin.aws.s3.Trigger: start one run for the new objects under a prefix.

Kestra lists the bucket every `interval`, downloads what it found, fires ONE execution with
`trigger.objects` and then applies `action` (MOVE to `moveTo`, DELETE, NONE). gitflows does
the same and is exactly-once even with action NONE: the cursor keeps a digest of every
(key, ETag) already fired that is still listed (pruned each poll to what still exists), so an
object fires once per version. The action runs in finish(True), after the runs and the cursor
are committed; if the server dies in between, the objects are still listed with digests the
cursor holds, so the next poll fires nothing again and only completes their action.

The S3 calls go through `S3Ops` (runner.extras.s3, the one module importing boto3).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from runner.tasks.fs_local import choice, copy_for_run, digest, prune_copies, regex_property
from runner.triggers import MAX_POLL_SECONDS, Batch, TriggerContext, TriggerEvent

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

    @property
    def digest(self) -> str:
        return digest(self.key, self.etag)


class S3Ops(Protocol):
    def list_all(self, bucket: str, prefix: str | None, delimiter: str | None,
                 start_after: str | None, page_size: int) -> Iterator[Listed]: ...

    def download(self, bucket: str, key: str, target: Path) -> None: ...

    def move(self, bucket: str, key: str, to_bucket: str, to_key: str) -> None: ...

    def delete(self, bucket: str, key: str) -> None: ...


def keep(key: str, regexp: re.Pattern[str] | None, kind: str) -> bool:
    """Kestra's List filter: the regexp matches the whole key; a directory key ends in '/'."""
    if regexp is not None and not regexp.fullmatch(key):
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

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> Settings:
        bucket = str(props.get("bucket") or "")
        if not bucket:
            raise ValueError("bucket is required")
        action = choice(props, "action", ACTIONS, "NONE")
        move_to = props.get("moveTo") or {}
        if not isinstance(move_to, Mapping):
            raise ValueError("moveTo must be a map with key (and bucket)")
        move_key = str(move_to.get("key") or "")
        if action == "MOVE" and not move_key:
            raise ValueError("action MOVE needs moveTo.key")
        regexp = regex_property(props, "regexp")
        return cls(bucket, str(props["prefix"]) if props.get("prefix") else None, action,
                   str(move_to.get("bucket") or bucket), move_key, regexp,
                   choice(props, "filter", FILTERS, "BOTH"),
                   int(props.get("maxFiles") or DEFAULT_MAX_FILES))

    def moved_here(self, key: str) -> bool:
        """Objects MOVE put in the watched bucket are not new objects."""
        return (self.action == "MOVE" and self.move_bucket == self.bucket
                and key.startswith(self.move_key.rstrip("/") + "/"))

    def apply(self, ops: S3Ops, key: str) -> None:
        if self.action == "DELETE":
            ops.delete(self.bucket, key)
        elif self.action == "MOVE":
            ops.move(self.bucket, key, self.move_bucket, moved_key(self.move_key, key))

    def uri(self, key: str) -> str:
        """Where the object is once the action is done (DELETE: where it was)."""
        if self.action == "MOVE":
            return f"s3://{self.move_bucket}/{moved_key(self.move_key, key)}"
        return f"s3://{self.bucket}/{key}"


def poll(ctx: TriggerContext, ops: S3Ops) -> Batch:
    started = time.monotonic()
    settings = Settings.of(ctx.props)
    props = ctx.props
    listed = [o for o in ops.list_all(settings.bucket, settings.prefix,
                                      str(props["delimiter"]) if props.get("delimiter") else None,
                                      str(props["marker"]) if props.get("marker") else None,
                                      int(props.get("maxKeys") or 1000))
              if keep(o.key, settings.regexp, settings.kind) and not settings.moved_here(o.key)]
    old = set((ctx.cursor or {}).get("seen") or [])
    present = {o.digest for o in listed}
    seen = old & present  # what is no longer listed can be forgotten
    for obj in (o for o in listed if o.digest in seen and settings.action != "NONE"):
        try:  # fired and committed before, but the server stopped before the action
            settings.apply(ops, obj.key)
            seen.discard(obj.digest)
        except Exception as err:  # tried again next poll; new objects still fire
            ctx.log("ERROR", ctx.mask(f"{settings.action} s3://{settings.bucket}/{obj.key}: {err}"))
    new = sorted((o for o in listed if o.digest not in old), key=lambda o: (o.last_modified, o.key))
    if len(new) > settings.max_files:
        ctx.log("WARN", f"{len(new)} new objects, {settings.max_files} this poll (maxFiles)")
    fired: list[tuple[Listed, Path]] = []
    budget = MAX_POLL_SECONDS * 2 / 3
    for obj in new[:settings.max_files]:
        if fired and time.monotonic() - started > budget:
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
    objects = [{"key": o.key, "etag": o.etag, "size": o.size, "lastModified": o.last_modified,
                "owner": o.owner, "bucket": settings.bucket, "uri": settings.uri(o.key),
                "path": str(copy)} for o, copy in fired]
    event = TriggerEvent(digest(*(o.digest for o, _ in fired)), {"objects": objects})

    def finish(committed: bool) -> None:
        if not committed or settings.action == "NONE":
            return
        for obj, _ in fired:
            try:
                settings.apply(ops, obj.key)
            except Exception as err:  # the next poll finds it fired and tries again
                ctx.log("ERROR", ctx.mask(f"{settings.action} s3://{settings.bucket}/{obj.key}: {err}"))

    return Batch([event], cursor, finish)
