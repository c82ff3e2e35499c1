"""Azure Blob Storage under Kestra's names: io.kestra.plugin.azure.storage.blob.Upload,
Download, Downloads, List, Delete, Copy and Trigger. The one module importing
azure-storage-blob.

Connection properties are Kestra's: `endpoint` (https://ACCOUNT.blob.core.windows.net, or an
emulator's URL), and one of `connectionString`, `sasToken`, or `sharedKeyAccountName` with
`sharedKeyAccountAccessKey` (each from a secret); with none, anonymous access (public containers).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient, ContentSettings

from runner.events import State
from runner.model import Task
from runner.plugins import object_store
from runner.plugins.object_store import FILTERS, Listed, Settings, artifact_name, local_file
from runner.plugins.object_store import task_timeout as _timeout
from runner.ports.polling import TRIGGER_PROPERTIES, Batch, TriggerContext
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

SCHEME = "az"
_STRING = {"type": "string"}
_BOOL = {"type": ["boolean", "string"]}
_OBJECT = {"type": "object", "properties": {"container": _STRING, "name": _STRING}}
CONNECTION: dict[str, Any] = {
    "endpoint": _STRING, "connectionString": _STRING, "sasToken": _STRING,
    "sharedKeyAccountName": _STRING, "sharedKeyAccountAccessKey": _STRING, "container": _STRING,
}
LISTING: dict[str, Any] = {
    "prefix": _STRING, "regexp": _STRING, "delimiter": _STRING, "maxFiles": {"type": ["integer", "string"]},
    "filter": {"type": "string", "enum": list(FILTERS)},
}
ACTION: dict[str, Any] = {"action": {"type": "string", "enum": list(object_store.ACTIONS)}, "moveTo": _OBJECT}
COPY_WAIT_SECONDS = 60.0


class AzureFailed(TaskFailed):
    pass


def connect(props: Mapping[str, Any]) -> BlobServiceClient:
    """A client from Kestra's connection properties; the credentials never reach a message."""
    try:
        if props.get("connectionString"):
            return BlobServiceClient.from_connection_string(str(props["connectionString"]))
        endpoint = str(props.get("endpoint") or "")
        if not endpoint:
            raise AzureFailed("endpoint (or connectionString) is required")
        credential: Any = None
        if props.get("sharedKeyAccountName") and props.get("sharedKeyAccountAccessKey"):
            credential = {"account_name": str(props["sharedKeyAccountName"]),
                          "account_key": str(props["sharedKeyAccountAccessKey"])}
        elif props.get("sasToken"):
            credential = str(props["sasToken"]).lstrip("?")
        return BlobServiceClient(account_url=endpoint, credential=credential)
    except (ValueError, TypeError, AzureError):
        raise AzureFailed("connectionString / endpoint / credentials are not usable "
                          "(check the connection string or SAS token)") from None


def describe_error(err: Exception) -> str:
    code = getattr(err, "error_code", None)
    code = getattr(code, "value", code)  # a StorageErrorCode, or the service's string
    first = (str(err).splitlines() or [type(err).__name__])[0]
    return f"{code}: {first}" if code else first


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except AzureError as err:
        raise AzureFailed(f"{what}: {describe_error(err)}") from None


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def blob_output(container: str, item: Any, uri: str | None = None) -> dict[str, Any]:
    """Kestra's io.kestra.plugin.azure.storage.blob.models.Blob."""
    settings = getattr(item, "content_settings", None)
    return {"uri": uri or f"{SCHEME}://{container}/{item.name}", "container": container, "name": item.name,
            "size": getattr(item, "size", None), "eTag": str(getattr(item, "etag", "") or ""),
            "lastModified": _iso(getattr(item, "last_modified", None)),
            "contentType": settings.content_type if settings is not None else None}


class AzureOps:
    """runner.plugins.object_store.StoreOps over a BlobServiceClient (bucket = container)."""

    def __init__(self, client: BlobServiceClient) -> None:
        self.client = client

    def list_all(self, bucket: str, prefix: str | None, delimiter: str | None,
                 start_after: str | None, page_size: int) -> Iterator[Listed]:
        container = self.client.get_container_client(bucket)
        try:
            items = container.walk_blobs(name_starts_with=prefix, delimiter=delimiter) if delimiter \
                else container.list_blobs(name_starts_with=prefix, results_per_page=page_size)
            for item in items:
                if start_after and item.name <= start_after:
                    continue
                out = blob_output(bucket, item)
                yield Listed(item.name, out["eTag"], int(out["size"] or 0), out["lastModified"] or "",
                             extra=out)
        except AzureError as err:
            raise AzureFailed(f"listing {SCHEME}://{bucket}/{prefix or ''}: {describe_error(err)}") from None

    def download(self, bucket: str, key: str, target: Path) -> None:
        blob = self.client.get_blob_client(bucket, key)
        with target.open("wb") as out:
            _call(f"downloading {SCHEME}://{bucket}/{key}", lambda: blob.download_blob().readinto(out))

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> Any:
        what = f"copying {SCHEME}://{bucket}/{key} to {SCHEME}://{to_bucket}/{to_key}"
        source = self.client.get_blob_client(bucket, key)
        target = self.client.get_blob_client(to_bucket, to_key)
        status = _call(what, target.start_copy_from_url, source.url).get("copy_status")
        deadline = time.monotonic() + COPY_WAIT_SECONDS
        while status == "pending":  # same-account copies are usually done at once
            if time.monotonic() > deadline:
                raise AzureFailed(f"{what}: still pending after {COPY_WAIT_SECONDS:.0f}s")
            time.sleep(0.2)
            status = _call(what, target.get_blob_properties).copy.status
        if status != "success":
            raise AzureFailed(f"{what}: copy {status}")
        return _call(what, target.get_blob_properties)

    def move(self, bucket: str, key: str, to_bucket: str, to_key: str) -> None:
        self.copy(bucket, key, to_bucket, to_key)
        self.delete(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        _call(f"deleting {SCHEME}://{bucket}/{key}", self.client.get_blob_client(bucket, key).delete_blob)


def _move_to(props: Mapping[str, Any], container: str) -> tuple[str, str]:
    move_to = props.get("moveTo") or {}
    if not isinstance(move_to, Mapping):
        raise AzureFailed("moveTo must be a map with container and name")
    return str(move_to.get("container") or container), str(move_to.get("name") or "")


def _settings(props: Mapping[str, Any]) -> Settings:
    container = str(props.get("container") or "")
    try:
        return Settings.of(props, SCHEME, bucket=container, move=_move_to(props, container))
    except ValueError as err:
        raise AzureFailed(str(err)) from None


def poll_trigger(ctx: TriggerContext) -> Batch:
    try:
        return object_store.poll_blobs(ctx, AzureOps(connect(ctx.props)), _settings(ctx.props))
    except AzureError as err:
        raise AzureFailed(ctx.mask(describe_error(err))) from None


def run_upload(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    container, name = str(props["container"]), str(props["name"])
    source = local_file(str(props.get("from") or ""), ctx)
    blob = connect(props).get_blob_client(container, name)
    metadata = {str(k): str(v) for k, v in dict(props.get("metadata") or {}).items()} or None
    tags = {str(k): str(v) for k, v in dict(props.get("tags") or {}).items()} or None
    content = ContentSettings(content_type=str(props["contentType"])) if props.get("contentType") else None
    with source.open("rb") as data:
        _call(f"uploading {source.name} to {SCHEME}://{container}/{name}", blob.upload_blob, data,
              overwrite=True, metadata=metadata, tags=tags, content_settings=content,
              standard_blob_tier=props.get("accessTier"), timeout=int(_timeout(ctx)))
    ctx.log("INFO", f"uploaded {source.name} ({source.stat().st_size} bytes) to {SCHEME}://{container}/{name}")
    properties = _call(f"reading {SCHEME}://{container}/{name}", blob.get_blob_properties)
    return Outcome(State.SUCCESS, {"blob": blob_output(container, properties)})


def _download(client: BlobServiceClient, container: str, name: str, ctx: TaskContext) -> dict[str, Any]:
    ops = AzureOps(client)
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as scratch:
        local = Path(scratch, PurePosixPath(name).name or "object")
        ops.download(container, name, local)
        size = local.stat().st_size
        kept = ctx.keep_artifact(local, artifact_name(name))
    properties = _call(f"reading {SCHEME}://{container}/{name}",
                       client.get_blob_client(container, name).get_blob_properties)
    ctx.log("INFO", f"downloaded {SCHEME}://{container}/{name} ({size} bytes)")
    return blob_output(container, properties, str(kept))


def run_download(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    return Outcome(State.SUCCESS, {"blob": _download(connect(props), str(props["container"]),
                                                     str(props["name"]), ctx)})


def _listing(client: BlobServiceClient, settings: Settings) -> list[Listed]:
    return settings.listed(AzureOps(client))[:settings.max_files]


def run_list(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render({**task.props, "action": "NONE"})
    blobs = [dict(o.extra or {}) for o in _listing(connect(props), _settings(props))]
    where = f"{SCHEME}://{props['container']}/{props.get('prefix') or ''}"
    ctx.log("INFO", f"found {len(blobs)} blob(s) in {where}")
    return Outcome(State.SUCCESS, {"blobs": blobs})


def run_downloads(task: Task, ctx: TaskContext) -> Outcome:
    """Kestra's Downloads: every blob listed, as artifacts; then MOVE or DELETE them."""
    props = ctx.render({**task.props, "filter": "FILES"})
    client, settings = connect(props), _settings(props)
    settings = dataclasses.replace(settings, max_files=10_000) if not props.get("maxFiles") else settings
    blobs = [_download(client, settings.bucket, o.key, ctx) for o in _listing(client, settings)]
    for blob in blobs:
        settings.apply(AzureOps(client), blob["name"])
    return Outcome(State.SUCCESS, {"blobs": blobs, "outputFiles": {b["name"]: b["uri"] for b in blobs}})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    container, name = str(props["container"]), str(props["name"])
    blob = connect(props).get_blob_client(container, name)
    properties = _call(f"reading {SCHEME}://{container}/{name}", blob.get_blob_properties)
    option = props.get("deleteSnapshotsOptionType")
    _call(f"deleting {SCHEME}://{container}/{name}", blob.delete_blob,
          delete_snapshots=str(option).lower() if option else None)
    ctx.log("INFO", f"deleted {SCHEME}://{container}/{name}")
    return Outcome(State.SUCCESS, {"blob": blob_output(container, properties)})


def _object(props: Mapping[str, Any], name: str) -> tuple[str, str]:
    value = props.get(name)
    blob = (value.get("name") or value.get("key")) if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping) or not value.get("container") or not blob:
        raise AzureFailed(f"{name} must be a map with container and name")
    return str(value["container"]), str(blob)


def run_copy(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    (container, name), (to_container, to_name) = _object(props, "from"), _object(props, "to")
    ops = AzureOps(connect(props))
    copied = ops.copy(container, name, to_container, to_name)
    if str(props.get("delete") or "").lower() == "true":
        ops.delete(container, name)
    ctx.log("INFO", f"copied {SCHEME}://{container}/{name} to {SCHEME}://{to_container}/{to_name}")
    return Outcome(State.SUCCESS, {"blob": blob_output(to_container, copied)})


def _task(name: str, title: str, properties: dict[str, Any], required: tuple[str, ...], run: Any) -> TypeDef:
    return TypeDef(name=f"io.kestra.plugin.azure.storage.blob.{name}", kind="task", title=title,
                   properties={**CONNECTION, **properties}, required=required, run=run)


TYPES = (
    _task("Upload", "Upload a file to an Azure Blob Storage container",
          {"from": _STRING, "name": _STRING, "metadata": {"type": "object"}, "tags": {"type": "object"},
           "contentType": _STRING, "accessTier": _STRING, "legalHold": _BOOL,
           "immutabilityPolicy": {"type": "object"}}, ("container", "name", "from"), run_upload),
    _task("Download", "Download a blob from Azure Blob Storage as an artifact", {"name": _STRING},
          ("container", "name"), run_download),
    _task("Downloads", "Download the blobs under a prefix, then MOVE, DELETE or keep them",
          {**LISTING, **ACTION}, ("container", "action"), run_downloads),
    _task("List", "List the blobs of a container (prefix, regexp, delimiter, filter)", LISTING,
          ("container",), run_list),
    _task("Delete", "Delete a blob", {"name": _STRING, "deleteSnapshotsOptionType": _STRING},
          ("container", "name"), run_delete),
    _task("Copy", "Copy (or move, with delete: true) a blob",
          {"from": _OBJECT, "to": _OBJECT, "delete": _BOOL}, ("from", "to"), run_copy),
    TypeDef(name="io.kestra.plugin.azure.storage.blob.Trigger", kind="trigger",
            title="Start a run for the new blobs under a container prefix (then MOVE, DELETE or NONE)",
            properties={**TRIGGER_PROPERTIES, **CONNECTION, **LISTING, **ACTION},
            required=("container", "action"), poll=poll_trigger),
)
