"""The history benchmark runs (tiny size); its numbers are read, never asserted."""

from __future__ import annotations

from pathlib import Path

from bench.history import size_rows


def test_history_bench_rows(tmp_path: Path) -> None:
    rows = size_rows(tmp_path, 300)
    assert [name for name, _, _ in rows] == [
        "append, 300 runs (median)", "append, 300 runs (p99)",
        "append, 8 threads at once, 300 runs (each)", "lookup run, 300 runs (median)",
        "lookup run, 300 runs (p99)", "list newest 1000 of 300 runs"]
    assert all(ours > 0 and base > 0 for _, ours, base in rows)
