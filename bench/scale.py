"""python -m bench.scale [--quick] [--runs N]: no-op flow runs per minute and enqueue → start
latency, embedded (`flows serve` alone: SQLite queue, thread pool) and scaled out (`flows
serve --broker` with 1, 2 and 4 `flows worker` processes on this machine, Redis started here).

Runs are queued the way the dispatcher and the scheduler queue them (FlowService.intake),
all at once; each run records its history in the repository's git notes, as in production.
Latency: enqueue → the execution's first state (RUNNING), from the execution itself.
Throughput: runs / (last end - first enqueue). Kestra publishes ~1,000 runs/min with a
246 ms median latency on its own hardware; this machine's numbers are printed next
to that reference, not compared as equals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runner.executors import Executors, LocalExecutor
from runner.reporters.console import ConsoleReporter
from webhooks.config import RepoConfig, ServerConfig
from webhooks.runs.service import FlowService

FLOW = """\
id: noop
namespace: bench
inputs:
  - id: sent
    type: STRING
tasks:
  - id: nothing
    type: io.kestra.plugin.core.debug.Return
    format: ok
"""
CONCURRENCY = 4
FLOWS = str(Path(sys.executable).parent / "flows")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _repo(work: Path) -> Path:
    repo = work / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "noop.yml").write_text(FLOW)
    for args in (["init", "-q", "-b", "main"], ["add", "."],
                 ["-c", "user.name=b", "-c", "user.email=b@example.invalid", "commit", "-qm", "bench"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo


def _service(work: Path, repo: Path, name: str) -> FlowService:
    config = ServerConfig(data_dir=work / name, workers=CONCURRENCY,
                          repos=(RepoConfig(name="bench", location=str(repo)),))
    service = FlowService(config, Executors(LocalExecutor()), environ={})
    service.runs.console = ConsoleReporter(open(os.devnull, "w"))  # noqa: SIM115 (lives with the service)
    return service


def _when(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _enqueue_and_wait(service: FlowService, runs: int, tag: str, timeout: float,
                      rate: float | None = None) -> dict[str, float]:
    """Queue `runs` runs, all at once or `rate` per second, and wait for their ends."""
    commit = service.repos["bench"].resolve("HEAD")
    first = time.time()
    for n in range(runs):
        if rate:
            time.sleep(max(0.0, first + n / rate - time.time()))
        service.intake.enqueue(f"bench:{tag}:{n}", "bench", "bench", "noop", commit,
                               {"type": "bench"}, inputs={"sent": repr(time.time())})
    deadline = time.monotonic() + timeout
    while True:
        records = [r for r in service.registry.all() if r.done.is_set() and r.execution.id]
        views = [service.registry.describe(r.execution.id) for r in records]
        views = [v for v in views if str(v.get("inputs", {}).get("sent", "")) and
                 v["state"].get("endDate")]
        mine = [v for v in views if float(v["inputs"]["sent"]) >= first]
        if len(mine) >= runs:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{tag}: only {len(mine)} of {runs} runs finished in {timeout:.0f}s")
        time.sleep(0.2)
    latencies = sorted(_when(v["state"]["startDate"]) - float(v["inputs"]["sent"]) for v in mine)
    last = max(_when(v["state"]["endDate"]) for v in mine)
    return {"per_min": runs / (last - first) * 60, "median": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def _measure(service: FlowService, runs: int, tag: str, rate: float) -> dict[str, float]:
    """Throughput from a burst of runs; latency from runs queued at a steady `rate`."""
    _enqueue_and_wait(service, min(runs, 20), f"warm-{tag}", 120)
    burst = _enqueue_and_wait(service, runs, f"burst-{tag}", 600)
    paced = _enqueue_and_wait(service, max(20, runs // 3), f"paced-{tag}", 600, rate)
    return {"per_min": burst["per_min"], "burst_median": burst["median"],
            "median": paced["median"], "p99": paced["p99"]}


def embedded(work: Path, repo: Path, runs: int, rate: float) -> dict[str, float]:
    from webhooks.runs.workers import QueueWorker

    service = _service(work, repo, "embedded")
    worker = QueueWorker(service, service.intake.queue)
    worker.start()
    try:
        return _measure(service, runs, "embedded", rate)
    finally:
        worker.stop()
        service.close()


def scaled(work: Path, repo: Path, url: str, workers: int, runs: int, rate: float) -> dict[str, float]:
    from webhooks.scale.commands import attach, wait_for_workers
    from webhooks.scale.redisio import connect

    connect(url).flushdb()
    service = _service(work, repo, f"serve-{workers}")
    loops = attach(service, url)
    procs = []
    for n in range(workers):
        log = (work / f"worker-{workers}-{n}.log").open("w")
        procs.append(subprocess.Popen([FLOWS, "worker", "--broker", url, "--executor", "process",
                                       "--data", str(work / f"w-{workers}-{n}"), "--concurrency",
                                       str(CONCURRENCY)], stdout=log, stderr=log))
    try:
        for loop in loops:
            loop.start()
        if len(wait_for_workers(url, workers, 60)) < workers:
            raise SystemExit("the workers did not start; see " + str(work))
        return _measure(service, runs, f"scaled-{workers}", rate)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        for loop in loops:
            loop.stop()
        service.close()


def _redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = _port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    from webhooks.scale.redisio import connect

    deadline = time.monotonic() + 20
    while True:
        try:
            connect(url)
            return proc, url
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--quick", action="store_true", help="few runs, 1 and 2 workers (a smoke run)")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 300)")
    parser.add_argument("--rate", type=float, default=5.0,
                        help="runs queued per second for the latency measurement (default 5)")
    args = parser.parse_args()
    runs = args.runs or (40 if args.quick else 300)
    counts = (1, 2) if args.quick else (1, 2, 4)
    work = Path(tempfile.mkdtemp(prefix="gitflows-bench-scale-"))
    repo = _repo(work)
    redis, url = _redis(work)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        rows.append((f"embedded (1 process, {CONCURRENCY} threads)", embedded(work, repo, runs, args.rate)))
        for count in counts:
            rows.append((f"{count} worker process(es) x {CONCURRENCY}",
                         scaled(work, repo, url, count, runs, args.rate)))
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"no-op flow runs on {os.cpu_count()} CPUs: throughput of a burst of {runs}; enqueue -> start "
          f"latency at {args.rate:g} runs/s (and the burst's median wait)")
    print(f"{'mode':<36} {'runs/min':>9} {'median':>9} {'p99':>9} {'burst med':>10}")
    for name, row in rows:
        print(f"{name:<36} {row['per_min']:>9.0f} {row['median'] * 1000:>7.0f}ms "
              f"{row['p99'] * 1000:>7.0f}ms {row['burst_median'] * 1000:>8.0f}ms")
    print(f"{'Kestra (published, its hardware)':<36} {1000:>9} {246:>7}ms {'-':>9} {'-':>10}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
