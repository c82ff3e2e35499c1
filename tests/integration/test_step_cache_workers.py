"""Two `flows worker` processes (each its own data dir, on a real redis broker behind a real
`flows serve`) share step cache entries through an S3-compatible server (moto on 127.0.0.1):
the first worker's run misses and saves, the second worker's run of the same commit hits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import FLOWS, Server
from tests.integration.test_plugin_s3 import moto_endpoint  # noqa: F401
from tests.integration.test_scale import _repo, _until, _workers, redis_server, redis_url  # noqa: F401
from tests.integration.test_serve import call
from tests.integration.test_step_cache import FLOW, PROCESS, s3_settings


def _worker(url: str, data: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with data.with_suffix(".log").open("a") as out:
        return subprocess.Popen([*FLOWS, "worker", "--broker", url, "--data", str(data),
                                 "--executor", "process", "--concurrency", "1",
                                 "--heartbeat-timeout", "3", "--grace", "5"],
                                stdout=out, stderr=out, env={**os.environ, **env})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def _run_on(base: str, url: str, pid: int) -> dict[str, Any]:
    """Start the flow (one live worker: that one takes it) and return its finished run."""
    _until(f"worker {pid} alive", lambda: [w for w in _workers(url) if w["alive"]]
           and all(w["pid"] == pid for w in _workers(url) if w["alive"]))
    status, body = call(base, "POST", "/api/v1/executions/tests.cache/cached", body={})
    assert status == 200, body

    def done() -> dict[str, Any] | None:
        seen = call(base, "GET", f"/api/v1/executions/{body['id']}")[1]
        return seen if seen["state"]["current"] in ("SUCCESS", "FAILED", "WARNING") else None

    execution: dict[str, Any] = _until("the run to end", done)
    assert execution["state"]["current"] == "SUCCESS", execution
    return execution


def test_two_workers_share_the_s3_store(tmp_path: Path, redis_url: str,  # noqa: F811
                                        moto_endpoint: str) -> None:  # noqa: F811
    settings = s3_settings(moto_endpoint)
    repo = _repo(tmp_path, {".flows/cached.yml": FLOW.format(runner=PROCESS, prefix="deps", extra=""),
                            "requirements.txt": "requests==2\n"})
    server = Server(["--broker", redis_url, "--data", str(tmp_path / "serve"), "--executor",
                     "process"], cwd=repo, log=tmp_path / "serve.log")
    outputs = []
    try:
        for name in ("w1", "w2"):
            worker = _worker(redis_url, tmp_path / name, settings)
            try:
                execution = _run_on(server.base, redis_url, worker.pid)
            finally:
                _stop(worker)
            outputs.append((execution["id"], next(t["outputs"] for t in execution["taskRunList"]
                                                  if t["taskId"] == "deps")))
    finally:
        server.stop()
    (first_id, first), (_, second) = outputs
    assert first["cache"]["hit"] == "miss" and first["cache"]["saved"] is True
    assert second["cache"]["hit"] == "exact" and second["cache"]["store"] == "s3"
    assert second["found"] == first_id  # the venv the first worker's run built
    assert not (tmp_path / "w2" / "cache").exists()  # nothing kept locally by the second worker
