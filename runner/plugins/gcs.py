"""Google Cloud Storage under Kestra's names: io.kestra.plugin.gcp.gcs.Upload, Download,
Downloads, List, Delete, Copy and Trigger. The one module importing google-cloud-storage.

Credentials as Kestra takes them: `serviceAccount` (the key's JSON, from a secret), with
`scopes`, `projectId` and `impersonatedServiceAccount`; without one, Google's default
credentials. `endpointOverride` points at another server (an emulator), anonymously unless a
service account is given.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import google.auth
from google.api_core.exceptions import GoogleAPIError, NotFound
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import GoogleAuthError
from google.cloud import storage
from google.oauth2 import service_account

from runner.events import State
from runner.model import Task
from runner.plugins import object_store
from runner.plugins.object_store import FILTERS, Listed, Settings, artifact_name, local_file, split_uri
from runner.plugins.object_store import task_timeout as _timeout
from runner.ports.polling import TRIGGER_PROPERTIES, Batch, TriggerContext
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
LISTING_TYPES = ("DIRECTORY", "RECURSIVE")
_STRING = {"type": "string"}
_BOOL = {"type": ["boolean", "string"]}
CONNECTION: dict[str, Any] = {
    "projectId": _STRING, "serviceAccount": _STRING, "impersonatedServiceAccount": _STRING,
    "scopes": {"type": "array", "items": _STRING}, "endpointOverride": _STRING,
}
LISTING: dict[str, Any] = {
    "from": _STRING, "allVersions": _BOOL, "regExp": _STRING, "maxFiles": {"type": ["integer", "string"]},
    "listingType": {"type": "string", "enum": list(LISTING_TYPES)},
}
ACTION: dict[str, Any] = {"action": {"type": "string", "enum": list(object_store.ACTIONS)},
                          "moveDirectory": _STRING}


class GcsFailed(TaskFailed):
    pass


def _credentials(props: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(credentials, project of the key) from Kestra's properties."""
    scopes = [str(s) for s in props.get("scopes") or SCOPES]
    key = props.get("serviceAccount")
    if not key:
        if props.get("endpointOverride"):
            return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
        credentials, project = google.auth.default(scopes=scopes)
        return credentials, project
    try:  # never echo the key: its parse errors quote it
        info = json.loads(str(key)) if isinstance(key, str) else dict(key)
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes)
    except (ValueError, TypeError, KeyError, GoogleAuthError):
        raise GcsFailed("serviceAccount is not a service account key (the JSON Google gives)") from None
    if props.get("impersonatedServiceAccount"):
        from google.auth import impersonated_credentials

        credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
            source_credentials=credentials, target_principal=str(props["impersonatedServiceAccount"]),
            target_scopes=scopes)
    return credentials, info.get("project_id")


def connect(props: Mapping[str, Any]) -> storage.Client:
    credentials, project = _credentials(props)
    endpoint = props.get("endpointOverride")
    return storage.Client(project=str(props.get("projectId") or project or "gitflows"),
                          credentials=credentials,
                          client_options={"api_endpoint": str(endpoint)} if endpoint else None)


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (GoogleAPIError, GoogleAuthError) as err:
        raise GcsFailed(f"{what}: {getattr(err, 'message', None) or err}") from None


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def blob_output(blob: Any, uri: str | None = None) -> dict[str, Any]:
    """Kestra's io.kestra.plugin.gcp.gcs.models.Blob."""
    return {"uri": uri or f"gs://{blob.bucket.name}/{blob.name}", "name": blob.name,
            "bucket": blob.bucket.name, "size": blob.size, "etag": blob.etag,
            "generation": blob.generation, "contentType": blob.content_type,
            "contentEncoding": blob.content_encoding, "cacheControl": blob.cache_control,
            "md5": blob.md5_hash, "crc32c": blob.crc32c, "metadata": dict(blob.metadata or {}),
            "createTime": _iso(blob.time_created), "updateTime": _iso(blob.updated),
            "isDirectory": blob.name.endswith("/"), "storageClass": blob.storage_class}


def _listed(blob: Any) -> Listed:
    return Listed(blob.name, str(blob.etag or ""), int(blob.size or 0), _iso(blob.updated) or "",
                  extra=blob_output(blob), version=str(blob.generation or ""))


class GcsOps:
    """runner.plugins.object_store.StoreOps over a google-cloud-storage client."""

    def __init__(self, client: storage.Client) -> None:
        self.client = client

    def list_all(self, bucket: str, prefix: str | None, delimiter: str | None,
                 start_after: str | None, page_size: int) -> Iterator[Listed]:
        blobs = _call(f"listing gs://{bucket}/{prefix or ''}", self.client.list_blobs, bucket,
                      prefix=prefix, delimiter=delimiter, start_offset=start_after, page_size=page_size)
        try:
            yield from (_listed(blob) for blob in blobs)
        except GoogleAPIError as err:
            raise GcsFailed(f"listing gs://{bucket}/{prefix or ''}: {err}") from None

    def download(self, bucket: str, key: str, target: Path) -> None:
        _call(f"downloading gs://{bucket}/{key}", self.client.bucket(bucket).blob(key).download_to_filename,
              str(target))

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> Any:
        source = self.client.bucket(bucket)
        return _call(f"copying gs://{bucket}/{key} to gs://{to_bucket}/{to_key}", source.copy_blob,
                     source.blob(key), self.client.bucket(to_bucket), to_key)

    def move(self, bucket: str, key: str, to_bucket: str, to_key: str) -> None:
        self.copy(bucket, key, to_bucket, to_key)
        self.delete(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        _call(f"deleting gs://{bucket}/{key}", self.client.bucket(bucket).blob(key).delete)


def _settings(props: Mapping[str, Any]) -> Settings:
    """Kestra's from / moveDirectory / listingType / regExp as the shared trigger settings."""
    bucket, prefix = split_uri(str(props.get("from") or ""), "gs")
    move = split_uri(str(props["moveDirectory"]), "gs") if props.get("moveDirectory") else ("", "")
    listing = str(props.get("listingType") or "DIRECTORY").upper()
    if listing not in LISTING_TYPES:
        raise GcsFailed(f"listingType must be one of {', '.join(LISTING_TYPES)}, got '{listing}'")
    try:
        settings = Settings.of(props, "gs", bucket=bucket, prefix=prefix, move=move,
                               regexp_property="regExp")
    except ValueError as err:
        raise GcsFailed(str(err)) from None
    return dataclasses.replace(settings, delimiter="/" if listing == "DIRECTORY" else None)


def poll_trigger(ctx: TriggerContext) -> Batch:
    try:
        return object_store.poll_blobs(ctx, GcsOps(connect(ctx.props)), _settings(ctx.props))
    except (GoogleAPIError, GoogleAuthError) as err:
        raise GcsFailed(ctx.mask(str(err))) from None


def run_upload(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    source = local_file(str(props.get("from") or ""), ctx)
    bucket, key = split_uri(str(props["to"]), "gs")
    if not key or key.endswith("/"):
        key += source.name
    blob = connect(props).bucket(bucket).blob(key)
    for name, attribute in (("contentType", "content_type"), ("contentEncoding", "content_encoding"),
                            ("contentDisposition", "content_disposition"),
                            ("cacheControl", "cache_control")):
        if props.get(name):
            setattr(blob, attribute, str(props[name]))
    if props.get("metadata"):
        blob.metadata = {str(k): str(v) for k, v in dict(props["metadata"]).items()}
    _call(f"uploading {source.name} to gs://{bucket}/{key}", blob.upload_from_filename, str(source),
          content_type=blob.content_type, timeout=_timeout(ctx))
    ctx.log("INFO", f"uploaded {source.name} ({source.stat().st_size} bytes) to gs://{bucket}/{key}")
    return Outcome(State.SUCCESS, {"uri": f"gs://{bucket}/{key}"})


def _download(client: storage.Client, bucket: str, key: str, ctx: TaskContext) -> tuple[Any, Path]:
    blob = _call(f"reading gs://{bucket}/{key}", client.bucket(bucket).get_blob, key)
    if blob is None:
        raise GcsFailed(f"downloading gs://{bucket}/{key}: no such object")
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as scratch:
        local = Path(scratch, PurePosixPath(key).name or "object")
        _call(f"downloading gs://{bucket}/{key}", blob.download_to_filename, str(local),
              timeout=_timeout(ctx))
        kept = ctx.keep_artifact(local, artifact_name(key))
    ctx.log("INFO", f"downloaded gs://{bucket}/{key} ({blob.size} bytes)")
    return blob, kept


def run_download(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    bucket, key = split_uri(str(props["from"]), "gs")
    _, kept = _download(connect(props), bucket, key, ctx)
    return Outcome(State.SUCCESS, {"bucket": bucket, "path": key, "uri": str(kept)})


def _listing(client: storage.Client, props: Mapping[str, Any]) -> list[Any]:
    settings = _settings(props)
    all_versions = str(props.get("allVersions") or "").lower() == "true"
    blobs = _call(f"listing {settings.where(settings.prefix or '')}", list,
                  client.list_blobs(settings.bucket, prefix=settings.prefix, delimiter=settings.delimiter,
                                    versions=all_versions))
    return [b for b in blobs if object_store.keep(b.name, settings.regexp, settings.kind,
                                                  settings.where(b.name))][:settings.max_files]


def run_list(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render({**task.props, "action": "NONE"})
    if str(props.get("filter") or "BOTH").upper() not in FILTERS:
        raise GcsFailed(f"filter must be one of {', '.join(FILTERS)}")
    blobs = [blob_output(b) for b in _listing(connect(props), props)]
    ctx.log("INFO", f"found {len(blobs)} blob(s) in {props['from']}")
    return Outcome(State.SUCCESS, {"blobs": blobs})


def run_downloads(task: Task, ctx: TaskContext) -> Outcome:
    """Kestra's Downloads: every blob listed, as artifacts; then MOVE or DELETE them."""
    props = ctx.render({**task.props, "filter": "FILES"})
    client, settings = connect(props), _settings(props)
    blobs, files = [], {}
    for listed in _listing(client, props):
        blob, kept = _download(client, settings.bucket, listed.name, ctx)
        blobs.append(blob_output(blob, str(kept)))
        files[listed.name] = str(kept)
    ops = GcsOps(client)
    for name in files:
        settings.apply(ops, name)
    return Outcome(State.SUCCESS, {"blobs": blobs, "outputFiles": files})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    bucket, key = split_uri(str(props["uri"]), "gs")
    try:
        connect(props).bucket(bucket).blob(key).delete(timeout=_timeout(ctx))
        deleted = True
    except NotFound:
        if str(props.get("errorOnMissing") or "").lower() == "true":
            raise GcsFailed(f"deleting gs://{bucket}/{key}: no such object") from None
        deleted = False
    except (GoogleAPIError, GoogleAuthError) as err:
        raise GcsFailed(f"deleting gs://{bucket}/{key}: {err}") from None
    ctx.log("INFO", f"{'deleted' if deleted else 'no object at'} gs://{bucket}/{key}")
    return Outcome(State.SUCCESS, {"uri": f"gs://{bucket}/{key}", "deleted": deleted})


def run_copy(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    bucket, key = split_uri(str(props["from"]), "gs")
    to_bucket, to_key = split_uri(str(props["to"]), "gs")
    ops = GcsOps(connect(props))
    ops.copy(bucket, key, to_bucket, to_key)
    if str(props.get("delete") or "").lower() == "true":
        ops.delete(bucket, key)
    ctx.log("INFO", f"copied gs://{bucket}/{key} to gs://{to_bucket}/{to_key}")
    return Outcome(State.SUCCESS, {"uri": f"gs://{to_bucket}/{to_key}"})


def _task(name: str, title: str, properties: dict[str, Any], required: tuple[str, ...], run: Any) -> TypeDef:
    return TypeDef(name=f"io.kestra.plugin.gcp.gcs.{name}", kind="task", title=title,
                   properties={**CONNECTION, **properties}, required=required, run=run)


TYPES = (
    _task("Upload", "Upload a file to Google Cloud Storage",
          {"from": _STRING, "to": _STRING, "contentType": _STRING, "contentEncoding": _STRING,
           "contentDisposition": _STRING, "cacheControl": _STRING, "metadata": {"type": "object"}},
          ("from", "to"), run_upload),
    _task("Download", "Download a blob from Google Cloud Storage as an artifact",
          {"from": _STRING}, ("from",), run_download),
    _task("Downloads", "Download the blobs under a gs:// prefix, then MOVE, DELETE or keep them",
          {**LISTING, **ACTION}, ("from", "action"), run_downloads),
    _task("List", "List the blobs under a gs:// prefix (listingType, regExp, filter)",
          {**LISTING, "filter": {"type": "string", "enum": list(FILTERS)}}, ("from",), run_list),
    _task("Delete", "Delete a blob", {"uri": _STRING, "errorOnMissing": _BOOL}, ("uri",), run_delete),
    _task("Copy", "Copy (or move, with delete: true) a blob", {"from": _STRING, "to": _STRING,
                                                                "delete": _BOOL},
          ("from", "to"), run_copy),
    TypeDef(name="io.kestra.plugin.gcp.gcs.Trigger", kind="trigger",
            title="Start a run for the new blobs under a gs:// prefix (then MOVE, DELETE or NONE)",
            properties={**TRIGGER_PROPERTIES, **CONNECTION, **LISTING, **ACTION,
                        "filter": {"type": "string", "enum": list(FILTERS)}},
            required=("from", "action"), poll=poll_trigger),
)
