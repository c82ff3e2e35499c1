"""python -m bench [--quick]: engine overhead, ForEach, memory, process and container steps.

Each row compares gitflows with a baseline run in this same process, so the
ratio means something on any machine. Never used as a timed assertion.
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runner.engine import Engine
from runner.events import Collect, Event
from runner.executors import Executors, LocalExecutor
from runner.parse import parse_flow

BUSYBOX_IMAGE = "gitflows-test/busybox:1"


class Discard:
    def emit(self, event: Event) -> None:
        pass


def _flow(tasks: int) -> str:
    lines = ["id: bench", "namespace: bench", "tasks:"]
    for i in range(tasks):
        lines += [f"  - id: t{i}", "    type: io.kestra.plugin.core.debug.Return", "    format: x"]
    return "\n".join(lines) + "\n"


def _foreach(values: int) -> str:
    return (f"id: each\nnamespace: bench\ntasks:\n  - id: loop\n"
            f"    type: io.kestra.plugin.core.flow.ForEach\n    values: {list(range(values))}\n"
            f"    tasks:\n      - id: noop\n        type: io.kestra.plugin.core.debug.Return\n"
            f"        format: x\n")


def _engine(work: Path, sink: object | None = None) -> Engine:
    return Engine(Executors(LocalExecutor()), sink or Discard(), work_root=work,  # type: ignore[arg-type]
                  data_dir=work / "data")


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _baseline_calls(n: int) -> float:
    def noop(value: str) -> dict[str, str]:
        return {"value": value}

    return _median(lambda: [noop("x") for _ in range(n)], 5) / n


def engine_overhead(work: Path, n: int) -> tuple[str, float, float]:
    flow, _ = parse_flow(_flow(n), "bench.yml")
    assert flow is not None
    engine = _engine(work)
    per_task = _median(lambda: engine.run(flow), 3) / n
    return f"Return task, {n}-task flow", per_task, _baseline_calls(n)


def foreach_overhead(work: Path, n: int) -> tuple[str, float, float]:
    flow, _ = parse_flow(_foreach(n), "bench.yml")
    assert flow is not None
    engine = _engine(work)
    per_task = _median(lambda: engine.run(flow), 3) / n
    return f"ForEach over {n} values", per_task, _baseline_calls(n)


def process_step(work: Path, n: int) -> tuple[str, float, float]:
    text = ("id: p\nnamespace: bench\ntasks:\n  - id: s\n"
            "    type: io.kestra.plugin.scripts.shell.Commands\n    commands: ['true']\n")
    flow, _ = parse_flow(text, "bench.yml")
    assert flow is not None
    engine = _engine(work)
    ours = _median(lambda: engine.run(flow), n)
    bare = _median(lambda: subprocess.run(["/bin/sh", "-c", "set -e\ntrue"], check=True), n)
    return "shell step vs bare subprocess", ours, bare


def container_step(work: Path, n: int) -> tuple[str, float, float] | None:
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "image", "inspect", BUSYBOX_IMAGE], capture_output=True).returncode != 0:
        return None
    from runner.executors.docker import DockerExecutor

    text = ("id: c\nnamespace: bench\ntasks:\n  - id: s\n"
            f"    type: io.kestra.plugin.scripts.shell.Commands\n    containerImage: {BUSYBOX_IMAGE}\n"
            "    commands: ['true']\n")
    flow, _ = parse_flow(text, "bench.yml")
    assert flow is not None
    engine = Engine(Executors(LocalExecutor(), DockerExecutor.connect()), Discard(), work_root=work,
                    data_dir=work / "data")
    ours = _median(lambda: engine.run(flow), n)
    bare = _median(lambda: subprocess.run(["docker", "run", "--rm", BUSYBOX_IMAGE, "true"],
                                          check=True, capture_output=True), n)
    return "container step vs docker run --rm", ours, bare


def _peak_rss_mib(tasks: int) -> float:
    """Peak RSS of a fresh interpreter that parses and runs a `tasks`-task flow."""
    code = ("import resource, sys, tempfile; from pathlib import Path; import bench.__main__ as b; "
            "from runner.parse import parse_flow; "
            f"flow, _ = parse_flow(b._flow({tasks}), 'm.yml'); "
            "b._engine(Path(tempfile.mkdtemp())).run(flow); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def memory(small: int, large: int) -> str:
    base, big = _peak_rss_mib(small), _peak_rss_mib(large)
    per_task = (big - base) * 1024 / (large - small)
    return (f"peak RSS: {base:.0f} MiB for {small} tasks, {big:.0f} MiB for {large} tasks "
            f"({per_task:.1f} KiB per task run kept in the execution record)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    work = Path(tempfile.mkdtemp(prefix="gitflows-bench-"))
    try:
        rows = [engine_overhead(work, n), foreach_overhead(work, n),
                process_step(work, 3 if args.quick else 15)]
        container = container_step(work, 2 if args.quick else 10)
        if container:
            rows.append(container)
        print(f"{'benchmark':<36} {'gitflows':>12} {'baseline':>12} {'ratio':>8}")
        for name, ours, base in rows:
            print(f"{name:<36} {ours * 1000:>10.3f}ms {base * 1000:>10.4f}ms {ours / base:>8.1f}")
        if not container:
            print("container step: skipped (no Docker engine or test image)")
        print(memory(100, 1000 if args.quick else 10000))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
