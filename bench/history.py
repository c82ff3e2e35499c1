"""python -m bench.history [--quick]: the notes history store against the git CLI.

At 1k, 10k and 100k recorded runs (quick: 1k and 10k): append latency (median,
p99) against `git notes --ref=flows append`, the cost per append when 8 threads
of one process append at once (group commit: the appends that queue up behind a
writer land in one notes commit), lookup of one run against
`git notes --ref=flows show`, and listing the newest 1,000 runs against a full
scan through the git CLI (`git notes list` + `git cat-file --batch`, parse,
sort), which is what a reader without the run index has to do. The history is
built in bulk (one notes commit) before measuring. Numbers are read, never
asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.history.notes import NotesStore
from runner.history.records import HistoryEvent, RunFilter
from runner.ids import ulid

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
APPENDS, LOOKUPS, CLI_CALLS = 200, 500, 20
THREADS = 8
BUILD_SECONDS: dict[int, tuple[float, float]] = {}  # size → (bulk write, index build)


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=data, check=True,
                          capture_output=True, env=ENV).stdout


def _run_events(run: str, start_ms: int) -> list[HistoryEvent]:
    def t(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"

    def event(ms: int, seq: int, state: str, **more: Any) -> HistoryEvent:
        return HistoryEvent(t=t(ms), run=run, seq=seq, state=state, flow="bench.flow",
                            trigger="push", ref="refs/heads/main", runner="bench", **more)

    return [event(start_ms, 1, "RUNNING"),
            event(start_ms + 1500, 2, "SUCCESS", dur_ms=1500, log="0" * 40)]


def _median_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _build(repo: Path, n: int) -> tuple[NotesStore, list[str], list[str]]:
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    store = NotesStore(repo)
    start = int(time.time() * 1000) - n * 60_000
    runs = [ulid(start + i * 60_000) for i in range(n)]
    notes = {os.urandom(20).hex(): _run_events(run, start + i * 60_000)
             for i, run in enumerate(runs)}
    bulk = _timed(lambda: store.append_many(notes))
    index = _timed(lambda: store.runs(RunFilter(limit=1)))
    BUILD_SECONDS[n] = (bulk, index)
    return store, runs, list(notes)


def _grouped(store: NotesStore, commits: list[str], rng: random.Random) -> float:
    """Seconds per append with THREADS threads appending APPENDS events in all, at once."""
    start = threading.Barrier(THREADS + 1)
    work = [(rng.choice(commits) if i % 2 else os.urandom(20).hex(),
             _run_events(ulid(), int(time.time() * 1000))) for i in range(APPENDS)]

    def append(part: list[tuple[str, list[HistoryEvent]]]) -> None:
        start.wait()
        for commit, events in part:
            store.append(commit, events)

    threads = [threading.Thread(target=append, args=(work[t::THREADS],)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return (time.perf_counter() - began) / APPENDS


def _settle() -> None:
    """Start each measurement from a quiet machine: no pending writeback, no garbage."""
    os.sync()
    gc.collect()


def _cli_scan(repo: Path, limit: int) -> list[dict[str, object]]:
    """Newest runs the way a reader without an index must: read every note."""
    listing = _git(repo, "notes", "--ref=flows", "list").decode().split("\n")
    blobs = "".join(line.split()[0] + "\n" for line in listing if line.strip())
    out = _git(repo, "cat-file", "--batch", data=blobs.encode())
    latest: dict[str, dict[str, object]] = {}
    at = 0
    while at < len(out):
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        body = out[header_end + 1:header_end + 1 + size]
        at = header_end + 2 + size
        for line in body.splitlines():
            if line.startswith(b"{"):
                event = json.loads(line)
                seen = latest.get(event["run"])
                if seen is None or int(str(seen["seq"])) < event["seq"]:
                    latest[event["run"]] = event
    return sorted(latest.values(), key=lambda e: str(e["t"]), reverse=True)[:limit]


def size_rows(work: Path, n: int) -> list[tuple[str, float, float]]:
    """Ours and git's measured in turns (on two copies of one repository), so both see
    the same machine: the disk of a shared machine is anything but steady."""
    repo, twin = work / f"notes-{n}", work / f"notes-{n}-git"
    rng = random.Random(n)
    store, runs, commits = _build(repo, n)
    shutil.copytree(repo, twin, symlinks=True)
    targets = [_git(twin, "hash-object", "-w", "--stdin", data=f"target {i}\n".encode()).decode().strip()
               for i in range(CLI_CALLS)]
    line = _run_events(ulid(), int(time.time() * 1000))[1].line().decode()
    every = APPENDS // CLI_CALLS
    _settle()
    appends, cli_append = [], []
    for i in range(APPENDS):  # half new notes, half appends to an existing note
        commit = rng.choice(commits) if i % 2 else os.urandom(20).hex()
        events = _run_events(ulid(), int(time.time() * 1000))
        appends.append(_timed(lambda c=commit, e=events: store.append(c, e)))  # type: ignore[misc]
        if i % every == 0:
            target = targets[i // every]
            cli_append.append(_timed(
                lambda o=target: _git(twin, "notes", "--ref=flows", "append", "-m", line, o)))  # type: ignore[misc]
    _settle()
    grouped = _grouped(store, commits, rng)
    store.runs(RunFilter(limit=1))  # the index catches up with the appends (not a lookup)
    _settle()
    lookups, cli_show = [], []
    for i, run in enumerate(rng.sample(runs, min(LOOKUPS, n))):
        lookups.append(_timed(lambda r=run: store.run(r)))  # type: ignore[misc]
        if i % (LOOKUPS // CLI_CALLS) == 0 and i // (LOOKUPS // CLI_CALLS) < CLI_CALLS:
            target = targets[i // (LOOKUPS // CLI_CALLS)]
            cli_show.append(_timed(lambda o=target: _git(twin, "notes", "--ref=flows", "show", o)))  # type: ignore[misc]
    assert store.run(runs[0]), "lookup found nothing"
    listing = statistics.median(_timed(lambda: store.runs(RunFilter(limit=1000))) for _ in range(5))
    scan = _timed(lambda: _cli_scan(twin, 1000))
    store.close()
    ours_append, ours_append_p99 = _median_p99(appends)
    ours_lookup, ours_lookup_p99 = _median_p99(lookups)
    git_append, git_append_p99 = _median_p99(cli_append)
    git_show, git_show_p99 = _median_p99(cli_show)
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(twin, ignore_errors=True)
    return [(f"append, {n} runs (median)", ours_append, git_append),
            (f"append, {n} runs (p99)", ours_append_p99, git_append_p99),
            (f"append, {THREADS} threads at once, {n} runs (each)", grouped, git_append),
            (f"lookup run, {n} runs (median)", ours_lookup, git_show),
            (f"lookup run, {n} runs (p99)", ours_lookup_p99, git_show_p99),
            (f"list newest 1000 of {n} runs", listing, scan)]


def history_rows(work: Path, quick: bool) -> list[tuple[str, float, float]]:
    """(name, ours_seconds, baseline_seconds) rows; quick: 1k and 10k runs only."""
    rows: list[tuple[str, float, float]] = []
    for n in (1_000, 10_000) if quick else (1_000, 10_000, 100_000):
        rows.extend(size_rows(work, n))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history")
    parser.add_argument("--quick", action="store_true", help="1k and 10k runs only")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to create the repositories (default: the temp dir); "
                             "e.g. /dev/shm to take the disk out of the numbers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitflows-bench-history-", dir=args.dir))
    try:
        rows = history_rows(work, args.quick)
        print(f"{'benchmark':<48} {'gitflows':>12} {'baseline':>12} {'ratio':>8}")
        for name, ours, base in rows:
            print(f"{name:<48} {ours * 1000:>10.3f}ms {base * 1000:>10.3f}ms {ours / base:>8.2f}")
        for n, (bulk, index) in BUILD_SECONDS.items():
            print(f"setup: {n} runs written in bulk in {bulk:.2f}s (one notes commit), "
                  f"run index built in {index:.2f}s")
        print(f"baselines: git notes append / git notes show per call (the {THREADS}-thread row: "
              "wall time over appends); "
              "listing: git notes list + cat-file --batch full scan")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
