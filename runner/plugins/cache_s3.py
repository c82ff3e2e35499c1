"""The step cache in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto), so `flows worker`
processes on many machines share entries. FLOWS_CACHE_URL=s3://bucket/prefix; the endpoint
in FLOWS_CACHE_S3_ENDPOINT (none: AWS), the region in FLOWS_CACHE_S3_REGION, keys in
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or boto3's default chain).

Layout: <prefix>/blobs/<sha256>.tar and <prefix>/keys/<scope>/<percent-encoded key> (a
small JSON index). Percent-encoding keeps prefixes: a restore key lists the objects under
keys/<scope>/<encoded prefix>. One PUT makes an object whole, so concurrent writers of one
key are safe (the later index wins). The client is the S3 plugin's (runner/plugins/s3.py
owns boto3, the s3 extra); runner/tasks/cache_store.py loads this adapter by name when
FLOWS_CACHE_URL asks for it, as plugins are loaded, so the engine never depends on it.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.ports.cache import CacheEntry, Limits


def client_from(environ: Mapping[str, str]) -> Any:
    """The S3 plugin's client, from the cache's settings (Kestra's connection properties)."""
    from runner.plugins.s3 import connect

    return connect({"endpointOverride": environ.get("FLOWS_CACHE_S3_ENDPOINT"),
                    "region": environ.get("FLOWS_CACHE_S3_REGION") or "us-east-1",
                    "accessKeyId": environ.get("AWS_ACCESS_KEY_ID"),
                    "secretKeyId": environ.get("AWS_SECRET_ACCESS_KEY"),
                    "sessionToken": environ.get("AWS_SESSION_TOKEN"),
                    "forcePathStyle": True}, timeout=120)


class S3Store:
    name = "s3"

    def __init__(self, url: str, environ: Mapping[str, str], scratch: Path, scope: str = "",
                 limits: Limits | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/") + "/" if parsed.path.strip("/") else ""
        self.scope = urllib.parse.quote(scope, safe="") or "_"
        self.limits = limits or Limits()
        self.client = client_from(environ)
        self._scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)

    def _index(self, key: str) -> str:
        return f"{self.prefix}keys/{self.scope}/{urllib.parse.quote(key, safe='')}"

    def _blob(self, digest: str) -> str:
        return f"{self.prefix}blobs/{digest}.tar"

    def _get(self, name: str) -> CacheEntry | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
            data = json.loads(body)
            return CacheEntry(str(data["key"]), str(data["digest"]), int(data["size"]),
                              float(data["created"]))
        except self.client.exceptions.NoSuchKey:
            return None
        except (ValueError, KeyError, TypeError):  # not an index this store wrote
            return None

    def exact(self, key: str) -> CacheEntry | None:
        return self._get(self._index(key))

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                     Prefix=prefix)
        return [item for page in pages for item in page.get("Contents", [])]

    def with_prefix(self, prefix: str) -> list[CacheEntry]:
        found = (self._get(item["Key"]) for item in self._list(self._index(prefix)))
        return [e for e in found if e is not None]

    def fetch(self, entry: CacheEntry, target: Path) -> bool:
        try:
            self.client.download_file(Bucket=self.bucket, Key=self._blob(entry.digest),
                                      Filename=str(target))
        except self.client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False  # evicted since the index was read
            raise
        return True

    def put(self, key: str, tar: Path, digest: str) -> CacheEntry:
        entry = CacheEntry(key, digest, tar.stat().st_size, time.time())
        try:
            self.client.upload_file(Filename=str(tar), Bucket=self.bucket, Key=self._blob(digest))
        finally:
            tar.unlink(missing_ok=True)
        body = {"key": key, "digest": digest, "size": entry.size, "created": entry.created}
        self.client.put_object(Bucket=self.bucket, Key=self._index(key),
                               Body=json.dumps(body).encode("utf-8"))
        return entry

    def scratch(self) -> Path:
        return self._scratch

    def evict(self, now: float) -> int:
        """By each entry's save time (every scope: the limits are the bucket prefix's); then
        the blobs no index names. One GET per index: fine for the hundreds of entries a
        cache holds, and it runs after a save only."""
        entries = [(item["Key"], self._get(item["Key"])) for item in self._list(f"{self.prefix}keys/")]
        live = sorted(((name, e) for name, e in entries if e is not None), key=lambda p: p[1].created)
        dropped = 0

        def total() -> int:
            return sum({e.digest: e.size for _, e in live}.values())

        while live and (now - live[0][1].created > self.limits.max_age
                        or total() > self.limits.max_bytes):
            name, _ = live.pop(0)
            self.client.delete_object(Bucket=self.bucket, Key=name)
            dropped += 1
        kept = {e.digest for _, e in live}
        for blob in self._list(f"{self.prefix}blobs/"):
            digest = blob["Key"].rsplit("/", 1)[-1].removesuffix(".tar")
            if digest not in kept and now - blob["LastModified"].timestamp() > 60:
                self.client.delete_object(Bucket=self.bucket, Key=blob["Key"])
        return dropped
