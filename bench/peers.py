"""python -m bench peers [--quick] [--python PATH]: the same workloads through gitflows, Prefect
and Dagster, in one table, each as a ratio against a baseline measured in the same run.

- per no-op task: a flow (job) of N no-op tasks, per task, against a bare Python call;
- 100-task fan-out: a flow of 100 no-op tasks that may run at once (gitflows Parallel, Prefect
  task.map, Dagster one op feeding 100), against a thread pool mapping 100 calls;
- fresh process: a one-task flow run by a new process (`flows run`, `python script.py` for the
  peers), against `python -c pass`.

The peers come from the optional extra `bench` (`pip install -e '.[bench]'`), or from another
interpreter that has them (`--python /tmp/peers/bin/python`: keeps them out of the test venv).
A peer that is not importable there gets no column. Peer workloads run in a child process of
that interpreter, which imports this module without gitflows. Never used as a timed assertion.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PEERS = ("prefect", "dagster")
FAN = 100
REPO = Path(__file__).resolve().parent.parent
Times = dict[str, float]  # workload -> seconds

ONE_TASK = {
    "prefect": ("from prefect import flow, task\n\n@task\ndef hello():\n    print('hi')\n\n"
                "@flow\ndef one():\n    hello()\n\none()\n"),
    "dagster": ("from dagster import job, op\n\n@op\ndef hello():\n    print('hi')\n\n"
                "@job\ndef one():\n    hello()\n\none.execute_in_process()\n"),
}


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _noop(value: object = None) -> object:
    return value


# --- peers: run in a child interpreter that has them (imports nothing from gitflows) ---

def _prefect(n: int, repeat: int) -> Times:
    from prefect import flow, task

    noop = task(_noop)

    @flow
    def chain() -> None:
        for _ in range(n):
            noop()

    @flow
    def fan() -> None:
        noop.map(list(range(FAN))).result()

    chain()  # the first flow starts Prefect's ephemeral API server: not part of a task's cost
    return {"task": _median(chain, repeat) / n, "fanout": _median(fan, repeat)}


def _dagster(n: int, repeat: int) -> Times:
    from dagster import In, Nothing, job, op

    noop = op(name="noop")(lambda: None)
    leaf = op(name="leaf", ins={"start": In(Nothing)})(lambda: None)

    @job
    def chain() -> None:
        for i in range(n):
            noop.alias(f"t{i}")()

    @job
    def fan() -> None:
        root = noop.alias("root")()
        for i in range(FAN):
            leaf.alias(f"l{i}")(start=root)

    chain.execute_in_process()
    return {"task": _median(chain.execute_in_process, repeat) / n,
            "fanout": _median(fan.execute_in_process, repeat)}


def _peer_env(home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(home / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DAGSTER_HOME": str(home / "dagster"), "DO_NOT_TRACK": "1"}


def available(python: str) -> list[str]:
    """The peers importable by `python`."""
    code = ("import importlib.util as u, json; "
            f"print(json.dumps([p for p in {list(PEERS)!r} if u.find_spec(p)]))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return [str(p) for p in json.loads(out.stdout)]


def peer_times(python: str, peer: str, n: int, repeat: int, home: Path) -> Times:
    """All three workloads for one peer, the in-process ones in a child of `python`."""
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    env = _peer_env(home)
    out = subprocess.run([python, "-m", "bench.peers", "--worker", peer, str(n), str(repeat)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True)
    times: Times = json.loads(out.stdout.strip().splitlines()[-1])
    script = home / f"{peer}_one.py"
    script.write_text(ONE_TASK[peer])

    def fresh() -> object:
        return subprocess.run([python, str(script)], cwd=home, env=env, check=True,
                              capture_output=True)

    fresh()  # the first run creates the peer's database (as gitflows' first run keeps its schema pass)
    times["fresh"] = _median(fresh, repeat)
    return times


# --- gitflows and the baselines: in this process ---

def _parallel(tasks: int) -> str:
    body = "".join(f"      - id: t{i}\n        type: io.kestra.plugin.core.debug.Return\n"
                   f"        format: x\n" for i in range(tasks))
    return ("id: fan\nnamespace: bench\ntasks:\n  - id: all\n"
            "    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n" + body)


def gitflows_times(n: int, repeat: int, work: Path) -> Times:
    from bench.__main__ import _engine, _flow
    from runner.language.parse import parse_flow

    engine = _engine(work)
    chain, _ = parse_flow(_flow(n), "chain.yml")
    fan, _ = parse_flow(_parallel(FAN), "fan.yml")
    assert chain is not None and fan is not None
    engine.run(chain)
    return {"task": _median(lambda: engine.run(chain), repeat) / n,
            "fanout": _median(lambda: engine.run(fan), repeat),
            "fresh": _gitflows_fresh(repeat)}


def _gitflows_fresh(repeat: int) -> float:
    from bench.speed import ONE_TASK as FLOW
    from bench.speed import _flows

    repo = Path(tempfile.mkdtemp(prefix="gitflows-bench-peers-"))
    try:
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / ".flows").mkdir()
        (repo / ".flows" / "one.yml").write_text(FLOW)
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPYCACHEPREFIX": str(repo / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def fresh() -> object:
            return subprocess.run([*_flows(), "run", ".flows/one.yml"], cwd=repo, env=env,
                                  check=True, capture_output=True)

        fresh()
        return _median(fresh, repeat)
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def baselines(n: int, repeat: int) -> Times:
    def calls() -> None:
        for _ in range(n):
            _noop("x")

    def pool() -> None:
        with ThreadPoolExecutor() as threads:
            list(threads.map(_noop, range(FAN)))

    return {"task": _median(calls, max(repeat, 5)) / n, "fanout": _median(pool, repeat),
            "fresh": _median(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
                             repeat)}


def table(n: int, base: Times, columns: dict[str, Times]) -> list[str]:
    """One row a workload: the baseline, then each system's time and its ratio to the baseline."""
    names = {"task": f"per no-op task ({n}-task flow)", "fanout": f"{FAN}-task fan-out",
             "fresh": "fresh process, 1-task flow"}
    baselines_of = {"task": "Python call", "fanout": "thread pool", "fresh": "python -c pass"}
    lines = [f"{'workload':<32} {'baseline':>24}" + "".join(f" {c:>21}" for c in columns)]
    for key, name in names.items():
        cells = "".join(f" {t[key] * 1000:>11.3f}ms {t[key] / base[key]:>6.1f}x"
                        for t in columns.values())
        lines.append(f"{name:<32} {baselines_of[key]:>14} {base[key] * 1000:>7.4f}ms{cells}")
    return lines


def _last_line(stderr: str | bytes | None) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr or ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench peers")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--python", default=sys.executable,
                        help="an interpreter with prefect and/or dagster (default: this one)")
    args = parser.parse_args(argv)
    n, repeat = (20, 3) if args.quick else (200, 5)
    work = Path(tempfile.mkdtemp(prefix="gitflows-bench-peers-"))
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        columns: dict[str, Times] = {"gitflows": gitflows_times(n, repeat, work)}
        peers = available(args.python)
        failed: list[str] = []
        for peer in peers:
            try:
                columns[peer] = peer_times(args.python, peer, n, repeat, work / peer)
            except subprocess.CalledProcessError as error:  # a peer's crash is its row's note
                failed.append(f"{peer} failed: " + _last_line(error.stderr))
        print("\n".join(table(n, baselines(n, repeat), columns)))
        for line in failed:
            print(line)
        missing = [p for p in PEERS if p not in peers]
        if missing:
            print(f"not installed for {args.python}: {', '.join(missing)} "
                  "(pip install -e '.[bench]', or --python an interpreter that has them)")
        print(f"load average: {load} before, "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" after ({os.cpu_count()} cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _worker(argv: list[str]) -> None:
    peer, n, repeat = argv[0], int(argv[1]), int(argv[2])
    measure: dict[str, Callable[[int, int], Times]] = {"prefect": _prefect, "dagster": _dagster}
    result: Any = measure[peer](n, repeat)
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2:])
    else:
        main(sys.argv[1:])
