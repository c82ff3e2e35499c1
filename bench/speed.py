"""Issue 21's goals as ratios against baselines measured in the same run (`python -m bench`).

- Cold start: `flows run` of a one-task flow and `flows validate` of one file, each a fresh
  process, against a fresh `python -c pass` (goal: at most 8x); `flows --help` beside them.
  The first run of a flow checks it against the schema and keeps the pass (schema_cache):
  a first round is not timed, so the rows show the flow's later runs; each row is a median
  of rounds that run every command in turn, baseline included (this machine's speed drifts
  by a third within minutes). Bytecode is cached (in the benchmark's temporary directory),
  as for an installed gitflows.
- Container steps: a step in a run's warm container (through its agent) against the same
  command as a host process (goal: at most 5 ms more) and against a bare `docker exec`
  (goal: at least 10x faster); the docker exec path it replaces is shown too.
- Memory per kept task run: tracemalloc's count of the bytes a finished run still holds,
  for two flow sizes; the difference per task is what one more task run costs to keep
  (goal: under 3 KiB). The engine's per-task time is `python -m bench`'s Return task row.
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench.__main__ import BUSYBOX_IMAGE, _engine, _flow, _median
from runner.executors import LocalExecutor, ProcessSpec
from runner.language.parse import parse_flow
from runner.ports.executor import ContainerOptions

ONE_TASK = ("id: one\nnamespace: bench\ntasks:\n  - id: hello\n"
            "    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
Row = tuple[str, float, float]


def _flows() -> list[str]:
    script = Path(sys.executable).parent / "flows"  # the console script users run
    return [str(script)] if script.exists() else [sys.executable, "-c",
                                                  "from runner.cli.main import main; main()"]


def cold_start(repeat: int) -> list[Row]:
    repo = Path(tempfile.mkdtemp(prefix="gitflows-bench-cold-"))
    try:
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / ".flows").mkdir()
        (repo / ".flows" / "one.yml").write_text(ONE_TASK)
        # as users run it: with bytecode cached (pip writes it; PYTHONDONTWRITEBYTECODE, set in
        # some sandboxes, would recompile every module each time), kept out of the tree
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
               "NO_COLOR": "1", "PYTHONPYCACHEPREFIX": str(repo / "pycache")}

        def fresh(*args: str) -> Callable[[], object]:
            return lambda: subprocess.run(list(args), cwd=repo, env=env, check=True,
                                          capture_output=True)

        flows = _flows()
        named = {
            "base": fresh(sys.executable, "-c", "pass"),
            "flows run, 1-task flow vs python -c pass": fresh(*flows, "run", ".flows/one.yml"),
            "flows run --executor process vs python -c pass": fresh(
                *flows, "run", "--executor", "process", ".flows/one.yml"),
            "flows validate, 1 file vs python -c pass": fresh(*flows, "validate", ".flows/one.yml"),
            "flows --help vs python -c pass": fresh(*flows, "--help"),
        }
        medians = _in_turns(named, repeat)
        return [(name, median, medians["base"]) for name, median in medians.items() if name != "base"]
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def _in_turns(commands: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """The median time of each command, timed in turns (one of each per round) after a round
    unmeasured (bytecode, the schema pass): when the machine's speed drifts during the
    benchmark, the baseline drifts with the commands rather than apart from them."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(repeat + 1):
        for name, command in commands.items():
            start = time.perf_counter()
            command()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(taken) for name, taken in times.items()}


def _kept_bytes(work: Path, tasks: int) -> int:
    """Bytes still allocated, while the execution is held, by one run of a `tasks`-task flow."""
    flow, _ = parse_flow(_flow(tasks), "m.yml")
    assert flow is not None
    engine = _engine(work)
    engine.run(flow)  # first-use caches (task families, templates) are not a run's cost
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        execution = engine.run(flow)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del execution
    return kept


def kept_task_memory(work: Path, small: int, large: int) -> str:
    small_bytes, large_bytes = _kept_bytes(work, small), _kept_bytes(work, large)
    per_task = (large_bytes - small_bytes) / (large - small) / 1024
    return (f"memory per kept task run (tracemalloc, {small} vs {large} tasks): "
            f"{per_task:.2f} KiB (goal: under 3 KiB; {small_bytes / 1024:.0f} / "
            f"{large_bytes / 1024:.0f} KiB kept by the whole run)")


def _quiet(stream: str, line: str) -> None:
    pass


def container_step(work: Path, repeat: int) -> tuple[list[Row], float] | None:
    """Rows, and the agent step's cost over the host process in seconds."""
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "image", "inspect", BUSYBOX_IMAGE], capture_output=True).returncode != 0:
        return None
    from runner.executors.docker import DockerExecutor

    docker = DockerExecutor.connect()
    options = ContainerOptions(image=BUSYBOX_IMAGE)
    in_agent = ProcessSpec(("true",), work, container=options, session="bench-agent",
                           share_root=work)
    host = LocalExecutor()
    on_host = ProcessSpec(("true",), work)
    try:
        docker.run(in_agent, _quiet)  # starts the run's container and its agent
        session = next(s for s in docker._sessions.values() if s.key[0] == "bench-agent")
        agent = _median(lambda: docker.run(in_agent, _quiet), repeat)
        host_step = _median(lambda: host.run(on_host, _quiet, threading.Event()), repeat)
        container = session.container_id
        bare = _median(lambda: subprocess.run(["docker", "exec", container, "true"], check=True,
                                              capture_output=True), repeat)
        agent_of_session, session.agent = session.agent, None  # the docker exec path it replaces
        try:
            exec_path = _median(lambda: docker.run(in_agent, _quiet), repeat)
        finally:
            session.agent = agent_of_session
    finally:
        docker.close_session("bench-agent")
    return [
        ("container step (agent) vs host process", agent, host_step),
        ("container step (agent) vs bare docker exec", agent, bare),
        ("container step (docker exec path) vs docker exec", exec_path, bare),
    ], agent - host_step


def report(work: Path, quick: bool) -> list[str]:
    """Lines for `python -m bench`: load average, then the goal rows with their verdicts."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"load average while measuring: {load} ({os.cpu_count()} cores)"]
    rows = cold_start(5 if quick else 15)
    measured = container_step(work, 20 if quick else 200)
    if measured is not None:
        rows += measured[0]
    for name, ours, base in rows:
        lines.append(f"{name:<48} {ours * 1000:>10.3f}ms {base * 1000:>10.4f}ms "
                     f"{ours / base:>8.2f}")
    if measured is None:
        lines.append("container steps: skipped (no Docker engine or test image)")
    else:
        lines.append(f"container step (agent) over host process: {measured[1] * 1000:+.2f} ms "
                     "(goal: at most +5 ms; vs bare docker exec, goal: ratio at most 0.1)")
    lines.append("cold start goal: ratio at most 8 against python -c pass")
    lines.append(kept_task_memory(work, 100, 1000 if quick else 2000))
    lines.append("load average after: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return lines
