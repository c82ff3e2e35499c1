"""Many writer processes at once, and writers killed with SIGKILL: nothing acknowledged is lost.

Writers are real processes appending through NotesStore; each prints `ack <run>`
after an append returned. The ref must stay valid (git fsck), git must read it,
and every acknowledged event must be there.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from runner.history.notes import NotesStore
from runner.history.records import LOGS_REF, NOTES_REF, HistoryEvent, RunFilter
from tests.conftest import REPO_ROOT
from tests.waiting import CEILING, wait_until

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

WRITER = """
import os, sys, time
from runner.history.notes import NotesStore
from runner.history.records import HistoryEvent
repo, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
commits, go = sys.argv[4].split(","), sys.argv[5]
store = NotesStore(repo)
open(f"{go}.ready-{worker}", "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
i = 0
while count < 0 or i < count:
    run = f"W{worker:03d}N{i:05d}"
    log = store.write_log(run, f"log of {run}\\n", {}) if i % 3 == 0 else None
    store.append(commits[i % len(commits)], [HistoryEvent(
        t="2026-01-01T00:00:00.000Z", run=run, seq=1, flow="ns.f", state="SUCCESS", log=log)])
    sys.stdout.write(f"ack {run}\\n")
    sys.stdout.flush()
    if i == 0:
        open(f"{go}.wrote-{worker}", "w").close()
    i += 1
"""


THREADED = """
import os, sys, threading, time
from runner.history.notes import NotesStore
from runner.history.records import HistoryEvent
repo, worker, commits, go = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
store = NotesStore(repo)
out = threading.Lock()
land = store._appends._land

def held(batch):  # with a `hold` file: stop for good once a batch of several is taken
    if len(batch) > 1 and os.path.exists(go + ".hold"):
        with out:
            for lines_of in batch:
                for lines in lines_of.values():
                    for line in lines:
                        sys.stdout.write("held " + line.decode() + "\\n")
            sys.stdout.flush()
        open(go + ".holding", "w").close()
        threading.Event().wait()
    return land(batch)

store._appends._land = held

def write(thread):
    i = 0
    while True:
        run = f"W{worker:03d}T{thread}N{i:04d}"
        store.append(commits[(thread + i) % len(commits)], [HistoryEvent(
            t="2026-01-01T00:00:00.000Z", run=run, seq=1, flow="ns.f", state="SUCCESS")])
        with out:
            sys.stdout.write(f"ack {run}\\n")
            sys.stdout.flush()
        if i == 0:
            open(f"{go}.wrote-{worker}-{thread}", "w").close()
        i += 1

open(f"{go}.ready-{worker}", "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
for thread in range(4):
    threading.Thread(target=write, args=(thread,), daemon=True).start()
threading.Event().wait()
"""


def threaded_writer(repo: Path, worker: int, commits: list[str], go: Path) -> subprocess.Popen[str]:
    """A process with four threads appending through one store (group commits), forever."""
    return subprocess.Popen([sys.executable, "-c", THREADED, str(repo), str(worker),
                             ",".join(commits), str(go)], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=ENV).stdout


def make_repo(path: Path, commits: int) -> list[str]:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for i in range(commits):
        git(path, "commit", "-q", "--allow-empty", "-m", f"c{i}")
    return git(path, "rev-list", "HEAD").split()


def writer(repo: Path, worker: int, count: int, commits: list[str], go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(repo), str(worker), str(count),
                             ",".join(commits), str(go)], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def acks(output: str, size: int = 10) -> set[str]:
    return {line.split()[1] for line in output.splitlines()
            if line.startswith("ack ") and len(line.split()) == 2 and len(line) == 4 + size}


def check_repo(repo: Path, commits: list[str]) -> None:
    fsck = subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "error" not in fsck.stderr.lower()
    git(repo, "rev-parse", "--verify", f"{NOTES_REF}^{{commit}}")
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", LOGS_REF],
                      capture_output=True).returncode == 0:
        git(repo, "rev-parse", "--verify", f"{LOGS_REF}^{{tree}}")
    for commit in commits:
        git(repo, "notes", "--ref=flows", "show", commit)


def ready(folder: Path, go: Path, procs: list[subprocess.Popen[str]], mark: str) -> None:
    """Wait until every writer has made its `mark` file (ready: waiting for go; wrote: one
    append acknowledged), failing with a writer's error if one died."""
    def marked() -> bool:
        for proc in procs:
            assert proc.poll() is None, proc.communicate()[1]
        return len(list(folder.glob(f"{go.name}.{mark}-*"))) == len(procs)
    wait_until(marked, f"{len(procs)} writers' {mark} marks")


def test_twenty_processes_fifty_events_each(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo, 5)
    go = tmp_path / "go"
    procs = [writer(repo, w, 50, commits, go) for w in range(20)]
    ready(tmp_path, go, procs, "ready")  # all start appending at once
    go.touch()
    seen: set[str] = set()
    for proc in procs:
        out, err = proc.communicate(timeout=CEILING)
        assert proc.returncode == 0, err
        seen |= acks(out)
    assert len(seen) == 1000
    runs = {s.run for s in NotesStore(repo).runs(RunFilter(limit=None))}
    assert runs == seen
    shown = sum(len(git(repo, "notes", "--ref=flows", "show", c).splitlines()) for c in commits)
    assert shown == 1000
    check_repo(repo, commits)


def test_writers_killed_at_random_points_lose_only_their_unfinished_write(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo, 3)
    rng = random.Random(1234)
    acknowledged: set[str] = set()
    worker = 0
    for round_ in range(8):
        go = tmp_path / f"go-{round_}"
        procs = []
        for _ in range(4):
            procs.append(writer(repo, worker, -1, commits, go))
            worker += 1
        ready(tmp_path, go, procs, "ready")
        go.touch()
        ready(tmp_path, go, procs, "wrote")  # each got one append done, however busy the machine
        deadline = time.monotonic()
        for proc in procs:  # kills at random points of the append loop
            deadline += rng.uniform(0.05, 0.3)
            time.sleep(max(0.0, deadline - time.monotonic()))
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            out, _ = proc.communicate(timeout=CEILING)
            assert proc.returncode == -signal.SIGKILL
            acknowledged |= acks(out)
    assert len(acknowledged) >= 32  # every writer's first append was acknowledged before its kill
    check_repo(repo, commits)
    store = NotesStore(repo)
    present = {s.run for s in store.runs(RunFilter(limit=None))}
    assert acknowledged <= present
    for run in sorted(acknowledged)[::7]:  # logs written before the acknowledged append are there
        if int(run[-5:]) % 3 == 0:
            assert store.logs(run) == f"log of {run}\n"
    assert len(present - acknowledged) <= 32  # at most the one unacknowledged write per killed writer
    store.append(commits[0], [HistoryEvent(t="2026-01-01T00:00:01.000Z", run="AFTER", seq=1,
                                           flow="ns.f", state="SUCCESS")])  # nobody is locked out
    assert "AFTER" in {s.run for s in store.runs(RunFilter(limit=None))}
    check_repo(repo, commits)


def test_a_writer_killed_while_holding_queued_appends_loses_only_calls_that_had_not_returned(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo, 3)
    acknowledged: set[str] = set()
    slack = 0
    for round_ in range(3):
        go = tmp_path / f"go-{round_}"
        proc = threaded_writer(repo, round_, commits, go)
        ready(tmp_path, go, [proc], "ready")
        go.touch()
        wait_until(lambda g=go: len(list(tmp_path.glob(f"{g.name}.wrote-*"))) == 4,  # type: ignore[misc]
                   "every thread's first append")
        Path(f"{go}.hold").touch()
        wait_until(lambda g=go: Path(f"{g}.holding").exists(), "a batch of queued appends taken")  # type: ignore[misc]
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=CEILING)
        assert proc.returncode == -signal.SIGKILL
        held = {json.loads(line[5:])["run"] for line in out.splitlines() if line.startswith("held ")}
        assert len(held) > 1
        done = acks(out, 11)
        assert len(done) >= 4 and not held & done  # none of the held calls had returned
        acknowledged |= done
        present = {s.run for s in NotesStore(repo).runs(RunFilter(limit=None))}
        assert acknowledged <= present
        assert not held & present  # the batch died with the process, as a whole
        slack += 4 - len(held)  # a thread outside the batch may have returned, unacknowledged
        assert len(present - acknowledged) <= slack
    check_repo(repo, commits)
    NotesStore(repo).append(commits[0], [HistoryEvent(t="2026-01-01T00:00:01.000Z", run="AFTER",
                                                      seq=1, flow="ns.f", state="SUCCESS")])
    check_repo(repo, commits)


def test_threaded_writers_killed_at_random_points_lose_only_unreturned_calls(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_repo(repo, 3)
    rng = random.Random(4321)
    acknowledged: set[str] = set()
    for round_ in range(4):
        go = tmp_path / f"go-{round_}"
        procs = [threaded_writer(repo, round_ * 2 + w, commits, go) for w in range(2)]
        ready(tmp_path, go, procs, "ready")
        go.touch()
        wait_until(lambda g=go: len(list(tmp_path.glob(f"{g.name}.wrote-*"))) == 8,  # type: ignore[misc]
                   "every thread's first append")
        deadline = time.monotonic()
        for proc in procs:
            deadline += rng.uniform(0.05, 0.3)
            time.sleep(max(0.0, deadline - time.monotonic()))
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            out, _ = proc.communicate(timeout=CEILING)
            assert proc.returncode == -signal.SIGKILL
            acknowledged |= acks(out, 11)
    check_repo(repo, commits)
    present = {s.run for s in NotesStore(repo).runs(RunFilter(limit=None))}
    assert acknowledged <= present
    assert len(present - acknowledged) <= 4 * 8  # at most each killed thread's call in flight
