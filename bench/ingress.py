"""python -m bench.ingress [--quick]: signed webhook deliveries accepted durably per second,
with 8 concurrent senders against a real `flows serve`, and their latency; the baseline is
the same server answering GET /healthz with the same senders (its HTTP floor)."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

SECRET = "bench-secret"
SENDERS = 8


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    repo = work / "repo"
    (repo / ".flows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@example.invalid",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    config = work / "serve.yml"
    config.write_text(f"repos:\n  - name: bench/repo\n    location: {repo}\n    provider: github\n"
                      "    webhook_secret_env: BENCH_SECRET\n")
    port = _port()
    flows = str(Path(sys.executable).parent / "flows")
    proc = subprocess.Popen([flows, "serve", "--config", str(config), "--port", str(port),
                             "--data", str(work / "data"), "--executor", "process"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "BENCH_SECRET": SECRET})
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("flows serve did not start")


def _delivery(base: str) -> Callable[[], None]:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1,
                       "repository": {"full_name": "bench/repo"}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    def send() -> None:
        request = urllib.request.Request(base + "/hooks/github", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
    return send


def _health(base: str) -> Callable[[], None]:
    def send() -> None:
        urllib.request.urlopen(base + "/healthz", timeout=30).read()
    return send


def _load(send: Callable[[], None], total: int) -> tuple[float, list[float]]:
    """(requests per second, latencies) for `total` requests from SENDERS threads."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = total // SENDERS

    def worker() -> None:
        mine = []
        for _ in range(per_thread):
            start = time.perf_counter()
            send()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(SENDERS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - start), latencies


def _p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 400 if args.quick else 2000
    work = Path(tempfile.mkdtemp(prefix="gitflows-ingress-"))
    proc, base = _serve(work)
    try:
        _load(_health(base), 80)  # warm up
        health_rate, health_lat = _load(_health(base), total)
        rate, lat = _load(_delivery(base), total)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'benchmark (8 senders)':<44} {'gitflows':>12} {'baseline':>12} {'ratio':>8}")
    print(f"{'signed deliveries stored per second':<44} {rate:>12.0f} {health_rate:>12.0f} "
          f"{rate / health_rate:>8.2f}")
    print(f"{'delivery latency median (ms)':<44} {statistics.median(lat) * 1000:>12.2f} "
          f"{statistics.median(health_lat) * 1000:>12.2f} "
          f"{statistics.median(lat) / statistics.median(health_lat):>8.2f}")
    print(f"{'delivery latency p99 (ms)':<44} {_p99(lat) * 1000:>12.2f} "
          f"{_p99(health_lat) * 1000:>12.2f} {_p99(lat) / _p99(health_lat):>8.2f}")
    print("baseline: GET /healthz on the same server (its HTTP floor); goal ≥ 500/s, p99 < 50 ms")


if __name__ == "__main__":
    main()
