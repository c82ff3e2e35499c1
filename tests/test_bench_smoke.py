"""The benchmarks run (a smoke run at small sizes); their numbers are read, not asserted."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_bench_quick_prints_a_table() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["benchmark", "gitflows", "baseline", "ratio"]
    assert any(row.startswith("Return task") for row in rows)
    assert any(row.startswith("peak RSS") for row in rows)
    assert any(row.startswith("pip install into a cached venv: hit vs miss") for row in rows)


def test_ingress_bench_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.ingress", "--quick"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "signed deliveries stored per second" in result.stdout
