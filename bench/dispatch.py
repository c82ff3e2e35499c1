"""python -m bench.dispatch [--quick]: does dispatch keep up with ingress (issue 21)?

A burst of N signed pushes (2,000; 200 with --quick), one per commit of a real git repository,
from 8 concurrent senders into a real `flows serve`. Read from the server's own inbox and run
queue afterwards (its time stamps, no polling error):

- dispatch rate: deliveries whose runs are queued per second, from the first delivery stored
  to the last run queued; the baseline is the ingress rate of the same server in the same
  burst (deliveries stored per second), so a ratio of 1 means dispatch keeps up;
- delivery → run queued and delivery → first step running, median and p99; the baseline is
  one `git rev-parse` subprocess on the same repository (what each delivery cost several of).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from bench.ingress import SENDERS, _p99, _serve, _StatusAPI, send_push

Row = tuple[str, float, float]


def _commits(repo: Path, count: int) -> list[str]:
    """count new commits on main (one file changed each), through one fast-import; the ids,
    the current head first."""
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    stream = []
    for i in range(count):
        message = f"change {i}"
        stream.append(f"commit refs/heads/main\ncommitter b <b@example.invalid> {1700000000 + i} "
                      f"+0000\ndata {len(message)}\n{message}\n"
                      + (f"from {head}\n" if i == 0 else "")
                      + f"M 644 inline file.txt\ndata {len(str(i))}\n{i}\n")
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"],
                   input="".join(stream).encode(), check=True)
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", f"{head}..main"],
                         check=True, capture_output=True, text=True).stdout.split()
    return [head, *out]


def _burst(base: str, shas: list[str]) -> None:
    pairs = iter(list(itertools.pairwise(shas)))
    lock = threading.Lock()

    def sender() -> None:
        while True:
            with lock:
                pair = next(pairs, None)
            if pair is None:
                return
            send_push(base, *pair)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _read(data: Path) -> tuple[dict[str, float], dict[str, float]]:
    """(delivery id → stored at, delivery id → its run queued at), from the server's files."""
    with sqlite3.connect(data / "inbox.sqlite3") as inbox:
        received = dict(inbox.execute("SELECT delivery_id, received_at FROM deliveries"))
    with sqlite3.connect(data / "runs.sqlite3") as runs:
        queued = {key.split(":")[1]: at for key, at in runs.execute("SELECT key, queued_at FROM runs")}
    return received, queued


def _wait_dispatched(data: Path, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if len(_read(data)[1]) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError("the burst was not dispatched in time")


def _step_starts(base: str, count: int, deadline: float) -> dict[str, float]:
    """commit → when the first step of its run was RUNNING (server time)."""
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        runs = json.loads(urllib.request.urlopen(f"{base}/api/v1/executions?size={count + 10}",
                                                 timeout=60).read())
        for run in runs:
            commit = str(run["trigger"]["commit"])
            for history in itertools.chain.from_iterable(
                    tr["state"]["histories"] for tr in run["taskRunList"][:1]):
                if history["state"] == "RUNNING":
                    found[commit] = dt.datetime.fromisoformat(history["date"]).timestamp()
        if len(found) >= count:
            break
        time.sleep(0.5)
    return found


def _rev_parse(repo: Path, repeat: int = 30) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def burst(work: Path, pushes: int) -> list[Row]:
    api = _StatusAPI()  # commit statuses are posted: to a stand-in that answers at once
    threading.Thread(target=api.serve_forever, daemon=True).start()
    proc, base = _serve(work, f"http://127.0.0.1:{api.server_address[1]}")
    repo, data = work / "repo", work / "data"
    try:
        shas = _commits(repo, pushes)
        _burst(base, shas)
        _wait_dispatched(data, pushes, time.monotonic() + 3600)
        received, queued = _read(data)
        starts = _step_starts(base, pushes, time.monotonic() + 1800)
        rev_parse = _rev_parse(repo)
    finally:
        proc.terminate()
        proc.wait(10)
        api.shutdown()
    first, last_stored = min(received.values()), max(received.values())
    ingress = len(received) / max(last_stored - first, 1e-9)
    dispatch = len(queued) / max(max(queued.values()) - first, 1e-9)
    to_queued = [queued[d] - received[d] for d in queued]
    after_of = _afters(data)
    to_running = [starts[a] - received[d] for d, a in after_of.items() if a in starts]
    rows = [(f"{pushes} pushes: dispatched/s vs stored/s", dispatch, ingress),
            ("delivery → run queued, median (ms)", statistics.median(to_queued) * 1000,
             rev_parse * 1000),
            ("delivery → run queued, p99 (ms)", _p99(to_queued) * 1000, rev_parse * 1000)]
    if to_running:
        rows += [(f"delivery → first step running, median (ms, {len(to_running)} runs)",
                  statistics.median(to_running) * 1000, rev_parse * 1000),
                 ("delivery → first step running, p99 (ms)", _p99(to_running) * 1000,
                  rev_parse * 1000)]
    return rows


def backlog(work: Path, pushes: int) -> tuple[float, float]:
    """(deliveries dispatched per second, seconds per delivery) by the dispatcher alone, in
    this process, over `pushes` stored push deliveries: its capacity, with no ingress to wait
    for. Runs are queued, not run (no queue worker)."""
    from runner.executors import Executors, LocalExecutor
    from webhooks.config import RepoConfig, ServerConfig
    from webhooks.loops.dispatcher import Dispatcher
    from webhooks.runs.service import FlowService

    repo = work / "repo"
    shas = _commits(repo, pushes)
    config = ServerConfig(data_dir=work / "backlog", repos=(RepoConfig(
        name="bench/repo", location=str(repo), provider="github"),))
    service = FlowService(config, Executors(LocalExecutor()), environ={})
    try:
        for before, after in itertools.pairwise(shas):
            body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                               "repository": {"full_name": "bench/repo"}, "pusher": {"name": "b"},
                               "head_commit": {"id": after, "message": "change"}}).encode()
            service.intake.inbox.accept("github", str(uuid.uuid4()),
                                        {"x-github-event": "push"}, body)
        dispatcher = Dispatcher(service)
        service.catalog.flows("bench/repo")  # the flow schema's first load is not a push's cost
        start = time.perf_counter()
        while dispatcher.round():
            pass
        elapsed = time.perf_counter() - start
        assert service.intake.queue.counts().get("queued") == pushes
    finally:
        service.close()
    return pushes / elapsed, elapsed / pushes


def _afters(data: Path) -> dict[str, str]:
    """delivery id → the commit its push ran."""
    with sqlite3.connect(data / "runs.sqlite3") as runs:
        return {key.split(":")[1]: commit for key, commit in
                runs.execute("SELECT key, commit_id FROM runs")}


def report(quick: bool) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="gitflows-dispatch-"))
    try:
        rows = burst(work, 200 if quick else 2000)
        rate, cost = backlog(work, 200 if quick else 2000)
        ingress, rev_parse = rows[0][2], rows[1][2] / 1000
        rows += [("stored backlog, dispatcher alone: dispatched/s vs stored/s", rate, ingress),
                 ("per-delivery dispatch cost vs one git rev-parse (ms)", cost * 1000,
                  rev_parse * 1000)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"{'dispatch (issue 21)':<58} {'gitflows':>10} {'baseline':>10} {'ratio':>8}"]
    lines += [f"{name:<58} {ours:>10.1f} {base:>10.1f} {ours / base:>8.2f}"
              for name, ours, base in rows]
    lines.append("baselines: the same server's ingress rate in the same burst (goal: dispatch "
                 "keeps up, ratio ~1, ≥ 500/s); one `git rev-parse` subprocess (latency rows)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("\n".join(report(args.quick)))


if __name__ == "__main__":
    main()
