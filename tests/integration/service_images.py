"""A Redis service image built on this machine (no registry): the busybox test image's files
plus the host's redis-server and redis-cli with the libraries they load, by `docker import`."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

REDIS_IMAGE = "gitflows-test/redis:services"
BINARIES = ("/usr/bin/redis-server", "/usr/bin/redis-cli")


def _libraries(binary: str) -> set[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(/\S+\.so[.\d]*)", out))


def build_redis_image(busybox: str, work: Path) -> str:
    """REDIS_IMAGE, imported once per engine; fails when redis-server is not installed."""
    if subprocess.run(["docker", "image", "inspect", REDIS_IMAGE],
                      capture_output=True).returncode == 0:
        return REDIS_IMAGE
    for binary in BINARIES:
        assert Path(binary).exists(), f"{binary} is needed to build {REDIS_IMAGE}"
    created = subprocess.run(["docker", "create", busybox, "true"], capture_output=True,
                             text=True, check=True).stdout.strip()
    try:
        base = subprocess.run(["docker", "export", created], capture_output=True,
                              check=True).stdout
    finally:
        subprocess.run(["docker", "rm", "-f", created], capture_output=True)
    target = work / "redis.tar"
    files = set(BINARIES).union(*(_libraries(b) for b in BINARIES))
    with tarfile.open(fileobj=io.BytesIO(base)) as source, \
            tarfile.open(target, "w", dereference=True) as out:
        for member in source.getmembers():
            out.addfile(member, source.extractfile(member) if member.isfile() else None)
        for path in sorted(files):  # links followed: the image has no /lib layout of its own
            out.add(path, arcname=path.lstrip("/"), recursive=False)
    subprocess.run(["docker", "import", str(target), REDIS_IMAGE], capture_output=True,
                   check=True)
    return REDIS_IMAGE
