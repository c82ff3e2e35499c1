"""python -m bench.ingress [--quick]: signed webhook deliveries accepted durably per second,
from 8 sender processes (a new connection each, as a forge sends them) against a real
`flows serve`, and their latency; the baseline is the same server answering GET /healthz
with the same senders (its HTTP floor).
Then push → pending commit status posted, and push → first step running, against a local
stand-in for the statuses API; the baseline is the delivery's own HTTP round trip."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import multiprocessing
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
from pathlib import Path
from typing import Any

SECRET = "bench-secret"
SENDERS = 8


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FLOW = """\
id: ci
namespace: bench
triggers:
  - id: on_push
    type: gitflows.trigger.Push
tasks:
  - id: step
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands: ["true"]
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c",
                           "user.email=b@example.invalid", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


class _StatusAPI(http.server.ThreadingHTTPServer):
    """Answers commit status POSTs with 201 and notes when each sha got its first one."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        super().__init__(("127.0.0.1", 0), _StatusHandler)


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sha = self.path.rsplit("/", 1)[-1]
        assert isinstance(self.server, _StatusAPI)
        self.server.first.setdefault(sha, time.perf_counter())
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _serve(work: Path, api: str = "http://127.0.0.1:9") -> tuple[subprocess.Popen[bytes], str]:
    repo = work / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "ci.yml").write_text(FLOW)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    config = work / "serve.yml"
    config.write_text(f"repos:\n  - name: bench/repo\n    location: {repo}\n    provider: github\n"
                      f"    webhook_secret_env: BENCH_SECRET\n    api_url: {api}\n"
                      "    token_env: BENCH_TOKEN\n")
    port = _port()
    flows = str(Path(sys.executable).parent / "flows")
    proc = subprocess.Popen([flows, "serve", "--config", str(config), "--port", str(port),
                             "--data", str(work / "data"), "--executor", "process"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "BENCH_SECRET": SECRET, "BENCH_TOKEN": "t0ken"})
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("flows serve did not start")


def _request(path: str) -> bytes:
    """One request as sent on the wire: a signed ping delivery (its own delivery id), or
    GET path. Each on a new connection, as a forge sends its deliveries."""
    if path != "/hooks/github":
        return f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1,
                       "repository": {"full_name": "bench/repo"}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: ping\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _sender(port: int, path: str, count: int, start: Any, results: Any) -> None:
    """A sender process: `count` requests one after another, each timed until its answer."""
    latencies = []
    start.wait()
    for _ in range(count):
        request = _request(path)
        began = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):  # the server closes after its answer
                answer += chunk
        latencies.append(time.perf_counter() - began)
        status = answer.split(b" ", 2)[1] if answer.count(b" ") >= 2 else b"?"
        if status not in (b"200", b"202"):
            results.put(RuntimeError(f"{path} answered {status.decode(errors='replace')}"))
            return
    results.put(latencies)


def _load(base: str, path: str, total: int) -> tuple[float, list[float]]:
    """(requests per second, latencies) for `total` requests from SENDERS processes: plain
    sockets, so the senders cost the server's two cores as little as they can."""
    port = int(base.rsplit(":", 1)[1])
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    senders = [context.Process(target=_sender, args=(port, path, total // SENDERS, start, results))
               for _ in range(SENDERS)]
    for sender in senders:
        sender.start()
    began = time.perf_counter()
    start.set()
    latencies: list[float] = []
    for _ in senders:
        got = results.get(timeout=600)
        if isinstance(got, Exception):
            raise got
        latencies += got
    elapsed = time.perf_counter() - began
    for sender in senders:
        sender.join()
    return len(latencies) / elapsed, latencies


def _push(base: str, repo: Path, before: str, after: str) -> float:
    """Deliver a signed push for after; the time the 202 came back."""
    send_push(base, before, after)
    return time.perf_counter()


def send_push(base: str, before: str, after: str) -> str:
    """A signed GitHub push of main from before to after, accepted (202); its delivery id."""
    delivery = str(uuid.uuid4())
    body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                       "created": False, "deleted": False, "forced": False,
                       "repository": {"full_name": "bench/repo"}, "pusher": {"name": "b"},
                       "head_commit": {"id": after, "message": "change"}, "commits": []}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(base + "/hooks/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 202
    return delivery


def _first_running(base: str, after: str, deadline: float) -> float:
    while time.perf_counter() < deadline:
        runs = json.loads(urllib.request.urlopen(base + "/api/v1/executions", timeout=5).read())
        for run in runs:
            if run["trigger"]["commit"] == after and any(
                    tr["state"]["current"] != "CREATED" for tr in run["taskRunList"]):
                return time.perf_counter()
        time.sleep(0.005)
    raise RuntimeError(f"no run started for {after}")


def push_latency(work: Path, pushes: int) -> list[tuple[str, float, float]]:
    api = _StatusAPI()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    proc, base = _serve(work, f"http://127.0.0.1:{api.server_address[1]}")
    repo = work / "repo"
    to_status, to_running, round_trips = [], [], []
    try:
        before = _git(repo, "rev-parse", "HEAD")
        for i in range(pushes):
            (repo / "file.txt").write_text(str(i))
            _git(repo, "add", ".")
            _git(repo, "commit", "-q", "-m", f"change {i}")
            after = _git(repo, "rev-parse", "HEAD")
            start = time.perf_counter()
            answered = _push(base, repo, before, after)
            running = _first_running(base, after, start + 30)
            while after not in api.first and time.perf_counter() < start + 30:
                time.sleep(0.005)
            round_trips.append(answered - start)
            to_status.append(api.first[after] - start)
            to_running.append(running - start)
            before = after
    finally:
        proc.terminate()
        proc.wait(10)
        api.shutdown()
    trip = statistics.median(round_trips)
    return [("push → pending status posted (median)", statistics.median(to_status), trip),
            ("push → first step running (median)", statistics.median(to_running), trip)]


def _p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def ingress(quick: bool) -> list[str]:
    """The ingress table: signed deliveries stored per second and their latency, against
    GET /healthz of the same server with the same senders."""
    total = 400 if quick else 4000
    work = Path(tempfile.mkdtemp(prefix="gitflows-ingress-"))
    proc, base = _serve(work)
    try:
        _load(base, "/healthz", 80)  # warm up
        health_rate, health_lat = _load(base, "/healthz", total)
        rate, lat = _load(base, "/hooks/github", total)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return [f"{'ingress (' + str(SENDERS) + ' sender processes)':<48} {'gitflows':>12} "
            f"{'baseline':>12} {'ratio':>8}",
            f"{'signed deliveries stored per second':<48} {rate:>12.0f} {health_rate:>12.0f} "
            f"{rate / health_rate:>8.2f}",
            f"{'delivery latency median (ms)':<48} {statistics.median(lat) * 1000:>12.2f} "
            f"{statistics.median(health_lat) * 1000:>12.2f} "
            f"{statistics.median(lat) / statistics.median(health_lat):>8.2f}",
            f"{'delivery latency p99 (ms)':<48} {_p99(lat) * 1000:>12.2f} "
            f"{_p99(health_lat) * 1000:>12.2f} {_p99(lat) / _p99(health_lat):>8.2f}",
            "baseline: GET /healthz on the same server (its HTTP floor); "
            "goal: at least 2,000 deliveries/s, p99 under 50 ms"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("\n".join(ingress(args.quick)))
    work = Path(tempfile.mkdtemp(prefix="gitflows-push-"))
    try:
        rows = push_latency(work, 3 if args.quick else 10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, ours, trip in rows:
        print(f"{name:<48} {ours * 1000:>10.1f}ms {trip * 1000:>10.1f}ms {ours / trip:>8.1f}")
    print("baseline: the push delivery's HTTP round trip; goal: pending status < 1 s")


if __name__ == "__main__":
    main()
