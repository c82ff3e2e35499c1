"""The inbox across real processes on one file: concurrent accepts and claims, a worker
killed with SIGKILL mid-processing (its delivery is replayed once the lease expires), and a
SIGKILL during a burst of grouped accepts from threads (every acknowledged delivery
survives, the file is sound)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.waiting import CEILING, wait_until
from webhooks.ingress.inbox import DONE, Inbox

PRELUDE = """import os, random, sys, time
from webhooks.ingress.inbox import Inbox
def ready_then_go(go):  # say so, then wait for the test's go: every child races from the start
    open(f"{go}.ready-{os.getpid()}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
"""


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python child running `code` (with sys.argv[1:] = args), output as text lines."""
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(code), *args],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def start_together(go: Path, children: list[subprocess.Popen[str]]) -> None:
    """Once every child has imported and waits (ready_then_go), let them all go at once."""
    def ready() -> bool:
        for child in children:
            assert child.poll() is None, child.communicate()
        return len(list(go.parent.glob(f"{go.name}.ready-*"))) == len(children)
    wait_until(ready, "the children to be ready")
    go.touch()


def finish(process: subprocess.Popen[str], timeout: float = CEILING) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def test_concurrent_accepts_from_processes_store_each_delivery_once(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    Inbox(db).close()
    go = tmp_path / "go"
    children = [spawn("""
        inbox = Inbox(sys.argv[1])
        ids = [f"delivery-{n}" for n in range(150)]
        random.Random(int(sys.argv[3])).shuffle(ids)
        ready_then_go(sys.argv[2])
        print(sum(inbox.accept("github", d, {"x-github-event": "push"}, d.encode()) for d in ids))
    """, str(db), str(go), str(seed)) for seed in range(4)]
    start_together(go, children)
    stored = [int(finish(child)) for child in children]
    assert sum(stored) == 150  # each delivery acknowledged as new exactly once
    conn = sqlite3.connect(db)
    counts = conn.execute("SELECT COUNT(*), COUNT(DISTINCT delivery_id) FROM deliveries").fetchone()
    assert counts == (150, 150)
    conn.close()


def test_concurrent_claims_from_processes_process_each_delivery_once(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    inbox = Inbox(db)
    for n in range(80):
        inbox.accept("github", f"d-{n}", {}, b"{}")
    go = tmp_path / "go"
    children = [spawn("""
        inbox = Inbox(sys.argv[1])
        ready_then_go(sys.argv[3])
        while (d := inbox.claim(sys.argv[2], 60)) is not None:
            print(d.delivery_id, flush=True)
            time.sleep(0.01)  # processing, outside any transaction
            assert inbox.done(d.id, sys.argv[2])
    """, str(db), f"worker-{n}", str(go)) for n in range(4)]
    start_together(go, children)
    outputs = [finish(child).split() for child in children]
    seen = [line for output in outputs for line in output]
    assert sorted(seen) == sorted(f"d-{n}" for n in range(80))  # each claimed by one worker only
    assert sum(1 for output in outputs if output) >= 2, "the workers did not overlap"
    assert inbox.counts()[DONE] == 80 and inbox.pending_count() == 0
    inbox.close()


def test_a_worker_killed_mid_processing_is_replayed_after_its_lease(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    log = tmp_path / "processed.log"
    inbox = Inbox(db)
    assert inbox.accept("github", "d-1", {"x-github-event": "push"}, b'{"ref": "refs/heads/main"}')
    lease = 2.0
    doomed = spawn("""
        inbox = Inbox(sys.argv[1])
        d = inbox.claim("doomed", float(sys.argv[3]))
        with open(sys.argv[2], "a") as log:
            log.write(f"doomed started {d.delivery_id}\\n")
        print(d.id, flush=True)
        time.sleep(60)  # "processing" until killed
        with open(sys.argv[2], "a") as log:
            log.write("doomed finished\\n")
    """, str(db), str(log), str(lease))
    assert doomed.stdout is not None
    claimed_id = int(doomed.stdout.readline())
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    assert doomed.returncode == -signal.SIGKILL
    held = inbox.get(claimed_id)
    assert held is not None and held.lease_owner == "doomed" and held.lease_until is not None

    assert inbox.claim("early", lease) is None  # the lease still holds
    rescuer = spawn("""
        inbox = Inbox(sys.argv[1])
        deadline = time.time() + 120
        while (d := inbox.claim("rescuer", 30)) is None:
            assert time.time() < deadline, "never claimable again"
            time.sleep(0.05)
        with open(sys.argv[2], "a") as log:
            log.write(f"rescuer finished {d.delivery_id} attempt {d.attempts}\\n")
        assert inbox.done(d.id, "rescuer")
        print(d.id, time.time())
    """, str(db), str(log))
    rescued_id, rescued_at = finish(rescuer).split()
    assert int(rescued_id) == claimed_id
    assert float(rescued_at) >= held.lease_until  # not before the dead worker's lease expired
    assert log.read_text().splitlines() == ["doomed started d-1", "rescuer finished d-1 attempt 2"]
    delivery = inbox.get(claimed_id)
    assert delivery is not None and (delivery.state, delivery.attempts) == (DONE, 2)
    assert inbox.claim("late", lease) is None and inbox.pending_count() == 0  # finished once
    inbox.close()


def test_the_database_survives_sigkill_during_a_burst_of_accepts(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    Inbox(db).close()
    # four threads per process: their accepts queue up and land in shared transactions
    writers = [spawn("""
        import itertools, threading
        inbox = Inbox(sys.argv[1])
        body = os.urandom(2048)
        numbers, out = itertools.count(), threading.Lock()
        def write():
            for n in numbers:
                if inbox.accept("github", f"{sys.argv[2]}-{n}", {"x-github-event": "push"}, body):
                    with out:
                        print(n, flush=True)  # acknowledged: it must survive the kill
        for _ in range(4):
            threading.Thread(target=write, daemon=True).start()
        threading.Event().wait()
    """, str(db), f"writer{w}") for w in range(2)]
    acknowledged: dict[int, list[int]] = {0: [], 1: []}
    deadline = time.time() + 20
    for w, writer in enumerate(writers):
        assert writer.stdout is not None
        while len(acknowledged[w]) < 60 and time.time() < deadline:
            line = writer.stdout.readline()
            assert line, writer.stderr.read() if writer.stderr else "writer ended"
            acknowledged[w].append(int(line))
    for writer in writers:
        os.kill(writer.pid, signal.SIGKILL)
    for w, writer in enumerate(writers):
        assert writer.stdout is not None
        out, _ = writer.communicate(timeout=CEILING)
        acknowledged[w].extend(int(line) for line in out.split())  # printed before the kill
        assert writer.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    stored = {row[0] for row in conn.execute("SELECT delivery_id FROM deliveries")}
    conn.close()
    for w in (0, 1):
        assert len(acknowledged[w]) >= 60
        missing = {f"writer{w}-{n}" for n in acknowledged[w]} - stored
        assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    # and the inbox carries on
    inbox = Inbox(db)
    assert inbox.accept("github", "after-the-crash", {}, b"{}")
    assert inbox.pending_count() == len(stored) + 1
    inbox.close()
