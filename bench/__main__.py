"""python -m bench [--quick]: engine overhead, ForEach, memory, process and container steps,
a dependency install step on a step-cache hit against a miss (bench/cache.py), signed
deliveries stored per second against the server's HTTP floor (bench/ingress.py), and a burst
of pushes dispatched against the same server's ingress rate (bench/dispatch.py).
python -m bench peers [--quick] [--python PATH]: the same workloads beside Prefect and Dagster
(bench/peers.py, optional extra `bench`).

Each row compares gitflows with a baseline run in this same process, so the
ratio means something on any machine. Never used as a timed assertion.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runner.engine.engine import Engine
from runner.events import Event
from runner.executors import Executors, LocalExecutor
from runner.language.parse import parse_flow

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


def _steps_flow(steps: int, reuse: bool) -> str:
    runner = ("    taskRunner:\n      type: io.kestra.plugin.scripts.runner.docker.Docker\n"
              f"      reuseContainer: {'true' if reuse else 'false'}\n")
    body = "".join(f"  - id: s{i}\n    type: io.kestra.plugin.scripts.shell.Commands\n"
                   f"    containerImage: {BUSYBOX_IMAGE}\n{runner}    commands: ['true']\n"
                   for i in range(steps))
    return "id: steps\nnamespace: bench\ntasks:\n" + body


def container_steps(work: Path, steps: int) -> list[tuple[str, float, float]] | None:
    """Per-step cost of `steps` consecutive shell steps, three ways, against `docker run --rm`."""
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "image", "inspect", BUSYBOX_IMAGE], capture_output=True).returncode != 0:
        return None
    from runner.executors.docker import DockerExecutor

    engine = Engine(Executors(LocalExecutor(), DockerExecutor.connect()), Discard(), work_root=work,
                    data_dir=work / "data")
    per_step: dict[str, float] = {}
    for reuse in (False, True):
        flow, _ = parse_flow(_steps_flow(steps, reuse), "bench.yml")
        assert flow is not None
        per_step[str(reuse)] = _median(lambda f=flow: engine.run(f), 3) / steps  # type: ignore[misc]

    def docker_run() -> None:
        for _ in range(steps):
            subprocess.run(["docker", "run", "--rm", BUSYBOX_IMAGE, "true"], check=True,
                           capture_output=True)

    bare_run = _median(docker_run, 3) / steps
    keeper = subprocess.run(["docker", "run", "-d", "--rm", BUSYBOX_IMAGE, "sleep", "600"],
                            check=True, capture_output=True, text=True).stdout.strip()
    try:
        def docker_exec() -> None:
            for _ in range(steps):
                subprocess.run(["docker", "exec", keeper, "true"], check=True, capture_output=True)

        bare_exec = _median(docker_exec, 3) / steps
    finally:
        subprocess.run(["docker", "rm", "-f", keeper], capture_output=True)
    return [
        (f"{steps} steps, container per step vs docker run", per_step["False"], bare_run),
        (f"{steps} steps, reused container vs docker run", per_step["True"], bare_run),
        (f"{steps} steps, reused container vs docker exec", per_step["True"], bare_exec),
    ]


def _peak_rss_mib(tasks: int) -> float:
    """Peak RSS of a fresh interpreter that parses and runs a `tasks`-task flow."""
    code = ("import resource, sys, tempfile; from pathlib import Path; import bench.__main__ as b; "
            "from runner.language.parse import parse_flow; "
            f"flow, _ = parse_flow(b._flow({tasks}), 'm.yml'); "
            "b._engine(Path(tempfile.mkdtemp())).run(flow); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def memory(small: int, large: int) -> str:
    base, big = _peak_rss_mib(small), _peak_rss_mib(large)
    # whole MiB pages of a process dominated by its start-up: too coarse for a per-task figure
    # (the tracemalloc row of bench/speed.py gives that)
    return (f"peak RSS: {base:.0f} MiB for {small} tasks, {big:.0f} MiB for {large} tasks "
            "(per task run kept: the tracemalloc row below)")


def main() -> None:
    if sys.argv[1:2] == ["peers"]:
        from bench.peers import main as peers

        peers(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    work = Path(tempfile.mkdtemp(prefix="gitflows-bench-"))
    try:
        rows = [engine_overhead(work, n), foreach_overhead(work, n),
                process_step(work, 3 if args.quick else 15)]
        container = container_steps(work, 5 if args.quick else 50)
        if container:
            rows.extend(container)
        print(f"{'benchmark':<48} {'gitflows':>12} {'baseline':>12} {'ratio':>8}")
        for name, ours, base in rows:
            print(f"{name:<48} {ours * 1000:>10.3f}ms {base * 1000:>10.4f}ms {ours / base:>8.1f}")
        if not container:
            print("container steps: skipped (no Docker engine or test image)")
        # 2,000 tasks: a flow past 20,000 YAML values is refused (too-many-nodes)
        print(memory(100, 1000 if args.quick else 2000))
        from bench.speed import report  # issue 21: cold start and the container agent

        print("\n".join(report(work, args.quick)))
        from bench.cache import report as cache_report  # issue 20: the step cache

        print("\n".join(cache_report(work, args.quick)))
        from bench.ingress import ingress  # issue 21: deliveries stored per second

        print("\n".join(ingress(args.quick)))
        from bench.dispatch import report as dispatch_report  # issue 21: dispatch vs ingress

        print("\n".join(dispatch_report(args.quick)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
