"""python -m bench.cache [--quick]: a dependency install step on a cache miss against a hit.

The step makes a venv and pip-installs wheels from a local directory (built here: no
network) with `cache: {key: "deps-{{ hashFiles('requirements.txt') }}", paths: [venv]}`.
A miss creates the venv, installs and saves the entry; a hit restores the venv and pip finds
every requirement already satisfied. Printed as times and a ratio; never asserted.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from runner.engine.engine import Engine
from runner.events import Collect, State
from runner.executors import Executors, LocalExecutor
from runner.git.files import CheckoutFiles
from runner.language.parse import parse_flow

FLOW = """\
id: deps
namespace: bench.cache
tasks:
  - id: install
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    cache:
      key: "deps-{{{{ hashFiles('requirements.txt') }}}}"
      paths: [venv]
    commands:
      - "[ -d venv ] || {python} -m venv venv"
      - venv/bin/python -m pip install -q --no-index --find-links {wheels} -r {requirements}
"""


def _record(files: dict[str, bytes]) -> bytes:
    lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    return ("\n".join(lines) + "\n").encode()


def build_wheels(target: Path, packages: int, modules: int) -> list[str]:
    """`packages` pure-Python wheels of `modules` modules each; their names."""
    target.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(packages):
        name = f"gfbench{n}"
        info = f"{name}-1.0.dist-info"
        files = {f"{name}/__init__.py": b"VERSION = '1.0'\n"}
        for m in range(modules):
            files[f"{name}/mod{m}.py"] = (f"def f{m}(x):\n    return x + {m}\n" * 40).encode()
        files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
        files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                                  b"Tag: py3-none-any\n")
        record = _record(files) + f"{info}/RECORD,,\n".encode()
        with zipfile.ZipFile(target / f"{name}-1.0-py3-none-any.whl", "w") as wheel:
            for path, data in files.items():
                wheel.writestr(path, data)
            wheel.writestr(f"{info}/RECORD", record)
        names.append(name)
    return names


def _run(work: Path, text: str, checkout: Path) -> tuple[float, dict[str, object]]:
    flow, diagnostics = parse_flow(text, "bench.yml")
    assert flow is not None, [d.format() for d in diagnostics]
    engine = Engine(Executors(LocalExecutor()), Collect(), work_root=work / "runs",
                    data_dir=work / "data", namespace_files=CheckoutFiles(checkout))
    start = time.perf_counter()
    execution = engine.run(flow)
    seconds = time.perf_counter() - start
    if execution.state.current != State.SUCCESS:
        raise RuntimeError(f"the install step ended {execution.state.current}")
    return seconds, dict(execution.task_outputs["install"]["cache"])


def measure(work: Path, quick: bool) -> tuple[float, float, int]:
    """(miss seconds, hit seconds, entry bytes), medians over a few rounds."""
    packages, rounds = (10, 1) if quick else (40, 3)
    wheels = work / "wheels"
    names = build_wheels(wheels, packages, 20)
    checkout = work / "repo"
    checkout.mkdir()
    requirements = checkout / "requirements.txt"
    misses, hits, size = [], [], 0
    for round_ in range(rounds):
        requirements.write_text("\n".join(names) + f"\n# round {round_}\n")  # a new key
        text = FLOW.format(python=sys.executable, wheels=wheels, requirements=requirements)
        seconds, info = _run(work, text, checkout)
        assert info["hit"] == "miss" and info["saved"], info
        misses.append(seconds)
        size = int(str(info["savedBytes"]))
        seconds, info = _run(work, text, checkout)
        assert info["hit"] == "exact", info
        hits.append(seconds)
    return statistics.median(misses), statistics.median(hits), size


def report(work: Path, quick: bool) -> list[str]:
    root = work / "cache-bench"
    root.mkdir(parents=True, exist_ok=True)
    miss, hit, size = measure(root, quick)
    return [f"{'pip install into a cached venv: hit vs miss':<48} {hit * 1000:>10.1f}ms "
            f"{miss * 1000:>10.1f}ms {hit / miss:>8.2f}  "
            f"(miss/hit {miss / hit:.1f}x, entry {size / 1024 / 1024:.1f} MB)"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cache")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitflows-bench-cache-"))
    try:
        print(f"{'benchmark':<48} {'hit':>12} {'miss':>12} {'ratio':>8}")
        print("\n".join(report(work, args.quick)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
