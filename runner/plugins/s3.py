"""S3 (and S3-compatible: MinIO, Ceph, moto) under Kestra's names: io.kestra.plugin.aws.s3.Upload,
Download, List, Delete and Trigger (runner.plugins.object_store). The one module importing boto3.

Connection properties are Kestra's: region, accessKeyId, secretKeyId, sessionToken,
endpointOverride, forcePathStyle, compatibilityMode (accepted; boto3 has one client) and the
stsRole* ones. Without keys boto3's default chain applies (environment, ~/.aws, instance role).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from runner.events import State
from runner.model import Task
from runner.plugins import object_store
from runner.plugins.object_store import FILTERS, Listed, artifact_name, keep, local_file, sources
from runner.plugins.object_store import task_timeout as _timeout
from runner.ports.polling import MAX_POLL_SECONDS, TRIGGER_PROPERTIES, Batch, TriggerContext, redact
from runner.ports.task import Outcome, TaskContext, TaskFailed
from runner.tasks.registry import TypeDef

_STRING = {"type": "string"}
_BOOL = {"type": ["boolean", "string"]}
_INT = {"type": ["integer", "string"]}
_MAP = {"type": ["object", "string"]}
CONNECTION: dict[str, Any] = {
    "region": _STRING, "accessKeyId": _STRING, "secretKeyId": _STRING, "sessionToken": _STRING,
    "endpointOverride": _STRING, "compatibilityMode": _BOOL, "forcePathStyle": _BOOL,
    "stsRoleArn": _STRING, "stsRoleExternalId": _STRING, "stsRoleSessionName": _STRING,
    "stsRoleSessionDuration": _STRING, "stsEndpointOverride": _STRING,
    "bucket": _STRING, "requestPayer": _STRING,
}
LISTING: dict[str, Any] = {
    "prefix": _STRING, "delimiter": _STRING, "marker": _STRING, "encodingType": _STRING,
    "maxKeys": _INT, "expectedBucketOwner": _STRING, "regexp": _STRING, "maxFiles": _INT,
    "filter": {"type": "string", "enum": list(FILTERS)},
}
# Upload property → boto3 ExtraArgs name
UPLOAD_ARGS = {"cacheControl": "CacheControl", "contentType": "ContentType",
               "contentEncoding": "ContentEncoding", "contentDisposition": "ContentDisposition",
               "contentLanguage": "ContentLanguage", "acl": "ACL", "storageClass": "StorageClass",
               "serverSideEncryption": "ServerSideEncryption", "checksumAlgorithm": "ChecksumAlgorithm",
               "expectedBucketOwner": "ExpectedBucketOwner", "objectLockMode": "ObjectLockMode",
               "objectLockLegalHoldStatus": "ObjectLockLegalHoldStatus",
               "objectLockRetainUntilDate": "ObjectLockRetainUntilDate", "expires": "Expires",
               "requestPayer": "RequestPayer", "bucketKeyEnabled": "BucketKeyEnabled"}


def _truthy(value: Any) -> bool:
    return value is not None and str(value).strip().lower() not in ("false", "0", "")


def _duration_seconds(value: Any) -> int:
    from runner.durations import parse_duration

    return int(parse_duration(str(value)).total_seconds()) if value else 900


def connect(props: Mapping[str, Any], timeout: float = 60) -> Any:
    """An S3 client from Kestra's connection properties."""
    keys = {"aws_access_key_id": props.get("accessKeyId"),
            "aws_secret_access_key": props.get("secretKeyId"),
            "aws_session_token": props.get("sessionToken")}
    region = str(props["region"]) if props.get("region") else None
    session = boto3.session.Session(region_name=region,
                                    **{k: str(v) for k, v in keys.items() if v})
    config = Config(connect_timeout=min(timeout, 10), read_timeout=timeout,
                    retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path" if _truthy(props.get("forcePathStyle")) else "auto"})
    if props.get("stsRoleArn"):
        sts = session.client("sts", endpoint_url=props.get("stsEndpointOverride") or None, config=config)
        role: dict[str, Any] = {"RoleArn": str(props["stsRoleArn"]),
                                "RoleSessionName": str(props.get("stsRoleSessionName") or "gitflows"),
                                "DurationSeconds": _duration_seconds(props.get("stsRoleSessionDuration"))}
        if props.get("stsRoleExternalId"):
            role["ExternalId"] = str(props["stsRoleExternalId"])
        creds = sts.assume_role(**role)["Credentials"]
        session = boto3.session.Session(region_name=region, aws_access_key_id=creds["AccessKeyId"],
                                        aws_secret_access_key=creds["SecretAccessKey"],
                                        aws_session_token=creds["SessionToken"])
    return session.client("s3", endpoint_url=props.get("endpointOverride") or None, config=config)


def describe_error(err: Exception) -> str:
    if isinstance(err, ClientError):
        info = err.response.get("Error", {})
        return f"{info.get('Code', '?')}: {info.get('Message') or err}"
    return str(err)


class S3Failed(TaskFailed):
    pass


def _call(what: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as err:
        raise S3Failed(redact(f"{what}: {describe_error(err)}")) from None


def _listed(item: Mapping[str, Any]) -> Listed:
    modified = item.get("LastModified")
    owner = item.get("Owner")
    return Listed(str(item["Key"]), str(item.get("ETag", "")), int(item.get("Size", 0)),
                  modified.isoformat().replace("+00:00", "Z") if modified is not None else "",
                  {"id": owner.get("ID"), "displayName": owner.get("DisplayName")} if owner else None)


class BotoOps:
    """runner.plugins.object_store.StoreOps over a boto3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list_all(self, bucket: str, prefix: str | None, delimiter: str | None,
                 start_after: str | None, page_size: int) -> Iterator[Listed]:
        args: dict[str, Any] = {"Bucket": bucket, "PaginationConfig": {"PageSize": page_size}}
        for name, value in (("Prefix", prefix), ("Delimiter", delimiter), ("StartAfter", start_after)):
            if value:
                args[name] = value
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                yield from (_listed(item) for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as err:
            raise S3Failed(f"listing s3://{bucket}/{prefix or ''}: {describe_error(err)}") from None

    def download(self, bucket: str, key: str, target: Path) -> None:
        _call(f"downloading s3://{bucket}/{key}", self.client.download_file,
              Bucket=bucket, Key=key, Filename=str(target))

    def move(self, bucket: str, key: str, to_bucket: str, to_key: str) -> None:
        _call(f"copying s3://{bucket}/{key} to s3://{to_bucket}/{to_key}", self.client.copy,
              CopySource={"Bucket": bucket, "Key": key}, Bucket=to_bucket, Key=to_key)
        self.delete(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        _call(f"deleting s3://{bucket}/{key}", self.client.delete_object, Bucket=bucket, Key=key)


def run_upload(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    bucket, key = str(props["bucket"]), str(props["key"])
    files = [(s, local_file(s, ctx)) for s in sources(props.get("from"))]
    extra: dict[str, Any] = {arg: str(props[name]) for name, arg in UPLOAD_ARGS.items()
                             if props.get(name) is not None}
    if "BucketKeyEnabled" in extra:
        extra["BucketKeyEnabled"] = _truthy(extra["BucketKeyEnabled"])
    for name, arg in (("metadata", "Metadata"), ("tagging", "Tagging")):
        value = props.get(name)
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else None
        if value:
            pairs = {str(k): str(v) for k, v in dict(value).items()}
            extra[arg] = pairs if arg == "Metadata" else \
                "&".join(f"{k}={v}" for k, v in pairs.items())
    client = connect(props, _timeout(ctx))
    result: dict[str, Any] = {"bucket": bucket}
    for source, path in files:
        target = f"{key.rstrip('/')}/{PurePosixPath(source).name}" if len(files) > 1 else key
        _call(f"uploading {path.name} to s3://{bucket}/{target}", client.upload_file,
              Filename=str(path), Bucket=bucket, Key=target, ExtraArgs=extra or None)
        ctx.log("INFO", f"uploaded {path.name} ({path.stat().st_size} bytes) to s3://{bucket}/{target}")
        if len(files) == 1:
            head = _call(f"reading s3://{bucket}/{target}", client.head_object, Bucket=bucket, Key=target)
            result.update({"key": target, "eTag": head.get("ETag"), "versionId": head.get("VersionId")})
    return Outcome(State.SUCCESS, result)


def _download_one(client: Any, bucket: str, key: str, props: Mapping[str, Any],
                  ctx: TaskContext) -> dict[str, Any]:
    args = {"Bucket": bucket, "Key": key}
    for name, arg in (("versionId", "VersionId"), ("requestPayer", "RequestPayer"),
                      ("expectedBucketOwner", "ExpectedBucketOwner")):
        if props.get(name):
            args[arg] = str(props[name])
    response = _call(f"downloading s3://{bucket}/{key}", client.get_object, **args)
    name = PurePosixPath(key).name or "object"
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as scratch:
        local = Path(scratch, name)
        with local.open("wb") as out:
            for chunk in response["Body"].iter_chunks(1024 * 1024):
                out.write(chunk)
        kept = ctx.keep_artifact(local, artifact_name(key))
    ctx.log("INFO", f"downloaded s3://{bucket}/{key} ({response.get('ContentLength')} bytes)")
    return {"uri": str(kept), "eTag": response.get("ETag"), "versionId": response.get("VersionId"),
            "contentLength": response.get("ContentLength"), "contentType": response.get("ContentType"),
            "metadata": dict(response.get("Metadata") or {})}


def run_download(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    bucket = str(props["bucket"])
    client = connect(props, _timeout(ctx))
    if not any(props.get(p) for p in ("prefix", "delimiter", "regexp")):
        if not props.get("key"):
            raise TaskFailed("Invalid configuration: either specify 'key' for single file download or "
                             "at least one filtering parameter (prefix, delimiter, regexp)")
        return Outcome(State.SUCCESS, _download_one(client, bucket, str(props["key"]), props, ctx))
    listed = _list(client, {**props, "filter": "FILES"}, ctx)
    if not listed:
        ctx.log("WARN", "No objects found matching the filter criteria")
    files = {o["key"]: _download_one(client, bucket, o["key"], props, ctx) for o in listed}
    return Outcome(State.SUCCESS, {"files": files})


def _list(client: Any, props: Mapping[str, Any], ctx: TaskContext) -> list[dict[str, Any]]:
    """Kestra's List: one ListObjects page of maxKeys, filtered, cut to maxFiles."""
    bucket = str(props["bucket"])
    args: dict[str, Any] = {"Bucket": bucket, "MaxKeys": int(props.get("maxKeys") or 1000)}
    for name, arg in (("prefix", "Prefix"), ("delimiter", "Delimiter"), ("marker", "Marker"),
                      ("encodingType", "EncodingType"), ("expectedBucketOwner", "ExpectedBucketOwner"),
                      ("requestPayer", "RequestPayer")):
        if props.get(name):
            args[arg] = str(props[name])
    kind = str(props.get("filter") or "BOTH").upper()
    if kind not in FILTERS:
        raise TaskFailed(f"filter must be one of {', '.join(FILTERS)}, got '{kind}'")
    regexp = re.compile(str(props["regexp"])) if props.get("regexp") else None
    page = _call(f"listing s3://{bucket}/{props.get('prefix') or ''}", client.list_objects, **args)
    found = [_listed(item) for item in page.get("Contents", [])]
    objects = [{"key": o.key, "etag": o.etag, "size": o.size, "lastModified": o.last_modified,
                "owner": o.owner, "uri": None} for o in found if keep(o.key, regexp, kind)]
    limit = int(props.get("maxFiles") or 25)
    if len(objects) > limit:
        ctx.log("WARN", f"Listing returned {len(objects)} files but maxFiles limit is {limit}. "
                        f"Only the first {limit} files will be returned.")
    return objects[:limit]


def run_list(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    objects = _list(connect(props, _timeout(ctx)), props, ctx)
    ctx.log("INFO", f"found {len(objects)} object(s) in s3://{props['bucket']}/{props.get('prefix') or ''}")
    return Outcome(State.SUCCESS, {"objects": objects})


def run_delete(task: Task, ctx: TaskContext) -> Outcome:
    props = ctx.render(dict(task.props))
    bucket, key = str(props["bucket"]), str(props["key"])
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if props.get("bypassGovernanceRetention") is not None:
        args["BypassGovernanceRetention"] = _truthy(props["bypassGovernanceRetention"])
    for name, arg in (("mfa", "MFA"), ("requestPayer", "RequestPayer")):
        if props.get(name):
            args[arg] = str(props[name])
    client = connect(props, _timeout(ctx))
    response = _call(f"deleting s3://{bucket}/{key}", client.delete_object, **args)
    ctx.log("INFO", f"deleted s3://{bucket}/{key}")
    return Outcome(State.SUCCESS, {"versionId": response.get("VersionId"),
                                   "deleteMarker": response.get("DeleteMarker"),
                                   "requestCharged": response.get("RequestCharged")})


def poll_trigger(ctx: TriggerContext) -> Batch:
    try:
        return object_store.poll(ctx, BotoOps(connect(ctx.props, MAX_POLL_SECONDS)))
    except (ClientError, BotoCoreError) as err:
        raise S3Failed(ctx.mask(describe_error(err))) from None


UPLOAD = {"from": {"anyOf": [_STRING, {"type": "array", "items": _STRING}]}, "key": _STRING,
          "metadata": _MAP, "tagging": _MAP, "contentLength": _INT, "checksum": _STRING,
          **{name: _STRING for name in UPLOAD_ARGS}, "bucketKeyEnabled": _BOOL}
TYPES = (
    TypeDef(name="io.kestra.plugin.aws.s3.Upload", kind="task",
            title="Upload a file (or several) to an S3 bucket",
            properties={**CONNECTION, **UPLOAD}, required=("bucket", "from", "key"), run=run_upload),
    TypeDef(name="io.kestra.plugin.aws.s3.Download", kind="task",
            title="Download an object (or the objects matching prefix/regexp) from S3 as artifacts",
            properties={**CONNECTION, **LISTING, "key": _STRING, "versionId": _STRING},
            required=("bucket",), run=run_download),
    TypeDef(name="io.kestra.plugin.aws.s3.List", kind="task",
            title="List the objects of an S3 bucket (prefix, regexp, filter)",
            properties={**CONNECTION, **LISTING}, required=("bucket",), run=run_list),
    TypeDef(name="io.kestra.plugin.aws.s3.Delete", kind="task", title="Delete an S3 object",
            properties={**CONNECTION, "key": _STRING, "bypassGovernanceRetention": _BOOL,
                        "mfa": _STRING},
            required=("bucket", "key"), run=run_delete),
    TypeDef(name="io.kestra.plugin.aws.s3.Trigger", kind="trigger",
            title="Start a run for the new objects under an S3 prefix (then MOVE, DELETE or NONE)",
            properties={**TRIGGER_PROPERTIES, **CONNECTION, **LISTING,
                        "action": {"type": "string", "enum": list(object_store.ACTIONS)},
                        "moveTo": {"type": "object", "properties": {
                            "bucket": _STRING, "key": _STRING, "serverSideEncryption": _STRING,
                            "kmsKeyId": _STRING}}},
            required=("bucket", "action"), poll=poll_trigger),
)
