"""The benchmarks run (a smoke run at small sizes); their numbers are read, not asserted."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import REPO_ROOT, _missing

# a guard against a hang, not a speed check: a smoke run takes minutes on a busy 2-core machine
SMOKE_CEILING = 1200


def test_bench_quick_prints_a_table() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=SMOKE_CEILING)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["benchmark", "gitflows", "baseline", "ratio"]
    assert any(row.startswith("Return task") for row in rows)
    assert any(row.startswith("peak RSS") for row in rows)
    assert any(row.startswith("memory per kept task run (tracemalloc") for row in rows)
    assert any(row.startswith("pip install into a cached venv: hit vs miss") for row in rows)
    assert any(row.startswith("200 pushes: dispatched/s vs stored/s") for row in rows)
    assert any(row.startswith("signed deliveries stored per second") for row in rows)


def test_ingress_bench_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.ingress", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=SMOKE_CEILING)
    assert result.returncode == 0, result.stderr
    assert "signed deliveries stored per second" in result.stdout


def test_scale_bench_prints_embedded_and_worker_rows() -> None:
    """bench.scale drives FlowService directly (not type-checked by the suite): run it small."""
    if shutil.which("redis-server") is None:
        _missing("redis-server", "install the Debian package redis-server")
    result = subprocess.run([sys.executable, "-m", "bench.scale", "--quick", "--runs", "10"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=SMOKE_CEILING)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]
    assert [row.split("(")[0].strip() for row in rows] == [
        "embedded", "1 worker process", "2 worker process", "Kestra"]
    for row in rows[:3]:  # runs/min, then median, p99 and the burst's median in ms
        cells = row.split()[-4:]
        assert int(cells[0]) > 0 and all(c.endswith("ms") for c in cells[1:]), row


def test_peers_bench_prints_gitflows_beside_the_installed_peers() -> None:
    """Prefect and Dagster are never in the test venv: the table then has gitflows alone."""
    from bench.peers import PEERS, available

    installed = available(sys.executable)
    result = subprocess.run([sys.executable, "-m", "bench", "peers", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=SMOKE_CEILING)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["workload", "baseline", "gitflows", *installed]
    workloads = [row for row in rows if row.startswith(("per no-op task", "100-task fan-out",
                                                        "fresh process"))]
    assert len(workloads) == 3
    for row in workloads:  # a baseline, then a time and its ratio a column
        assert row.count("ms") == 2 + len(installed)
    missing = [p for p in PEERS if p not in installed]
    if missing:
        assert any(row.startswith("not installed") and all(p in row for p in missing)
                   for row in rows)
