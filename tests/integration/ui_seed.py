"""A repository of many flows with many recorded runs (notes written in bulk, as the
history bench does), for the UI listing tests and the latency measurement."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from runner.history.notes import NotesStore
from runner.history.records import HistoryEvent
from runner.ids import ulid

STATES = ("SUCCESS", "SUCCESS", "FAILED", "SUCCESS", "WARNING", "KILLED", "SUCCESS")
TRIGGERS = ("push", "schedule", "manual", "webhook")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def flow_text(namespace: str, flow_id: str, cron: str | None = None) -> str:
    text = (
        f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: say\n"
        f"    type: io.kestra.plugin.core.debug.Return\n    format: hi\n"
    )
    if cron:
        text += (
            f"triggers:\n  - id: tick\n    type: io.kestra.plugin.core.trigger.Schedule\n"
            f'    cron: "{cron}"\n    timezone: Europe/Paris\n'
        )
    return text


def _stamp(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def seed(repo: Path, flows: int, runs_per_flow: int, commits: int = 20) -> list[str]:
    """A new repository with `flows` flows in namespaces team{0..4}.app{n%2}, and
    runs_per_flow recorded runs of each spread over `commits` commits; the flow names."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    names = []
    for n in range(flows):
        namespace = f"team{n % 5}.app{n % 2}"
        cron = "0 3 * * *" if n % 3 == 0 else None
        (repo / ".flows").mkdir(exist_ok=True)
        (repo / ".flows" / f"f{n:03d}.yml").write_text(flow_text(namespace, f"f{n:03d}", cron))
        names.append(f"{namespace}.f{n:03d}")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "flows")
    for n in range(commits - 1):
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"c{n}")
    shas = _git(repo, "rev-list", "HEAD").split()
    start = int(time.time() * 1000) - flows * runs_per_flow * 60_000
    notes: dict[str, list[HistoryEvent]] = {}
    k = 0
    for r in range(runs_per_flow):
        for name in names:
            k += 1
            at = start + k * 60_000
            run = ulid(at)
            common = {
                "flow": name,
                "trigger": TRIGGERS[k % len(TRIGGERS)],
                "ref": "refs/heads/main",
                "runner": "seed",
            }
            state = STATES[(k * 7 + r) % len(STATES)]
            notes.setdefault(shas[k % len(shas)], []).extend(
                [
                    HistoryEvent(t=_stamp(at), run=run, seq=1, state="RUNNING", **common),
                    HistoryEvent(t=_stamp(at + 1500), run=run, seq=2, state=state, dur_ms=1500, **common),
                ]
            )
    store = NotesStore(repo)
    try:
        store.append_many(notes)
    finally:
        store.close()
    return names
