"""Real storage servers on 127.0.0.1 for the cloud storage plugin tests, one per test session
(per xdist worker): Google's storage JSON API through `gcp-storage-emulator` (PyPI) and Azure
Blob through Azurite (npm, installed by `scripts/setup test-env`). Under CI=true a server
that cannot start fails the tests that need it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _missing, free_port

AZURITE_HOME = Path("/opt/gitflows-azurite/node_modules/.bin")  # where scripts/setup installs it
# Azurite's documented development account (public, the same in every Azurite)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")
STARTUP_SECONDS = 60.0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer, even 403: the server is up
    except OSError:
        return False


def _start(what: str, command: list[str], probe: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        try:
            proc = subprocess.Popen(command, stdout=out, stderr=out)
        except OSError as err:
            _missing(what, f"{err} (run scripts/setup test-env)")
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _answers(probe):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _missing(what, log.read_text()[-2000:])
        time.sleep(0.1)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:<port> of gcp-storage-emulator (in memory) for this session."""
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    script = Path(sys.executable).parent / "gcp-storage-emulator"
    endpoint = f"http://127.0.0.1:{port}"
    proc = _start("gcp-storage-emulator", [str(script), "start", "--host", "127.0.0.1", "--port", str(port),
                                           "--in-memory"], f"{endpoint}/storage/v1/b", log)
    yield endpoint
    _stop(proc)


def azurite_command() -> str | None:
    found = shutil.which("azurite-blob")
    if found:
        return found
    local = AZURITE_HOME / "azurite-blob"
    return str(local) if local.exists() else None


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The connection string of an Azurite blob server for this session (data in a temp dir)."""
    command = azurite_command()
    if command is None:
        _missing("Azurite", "azurite-blob is not installed (run scripts/setup test-env)")
    port = free_port()
    data = tmp_path_factory.mktemp("azurite")
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    proc = _start("Azurite", [str(command), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                              "--location", str(data), "--silent", "--skipApiVersionCheck"],
                  f"{endpoint}?comp=list", data / "azurite.log")
    yield (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
           f"BlobEndpoint={endpoint};")
    _stop(proc)


