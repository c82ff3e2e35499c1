"""The `jq` filter: real jq (libjq) in a bounded worker process; always a list of results.

Kestra's `jq` runs the whole jq language (select, map, reduce, arithmetic,
builtins…) and returns every result in a list; a string input is parsed as
JSON. Here libjq runs in jq_worker.py, a separate process, because libjq
cannot be interrupted from Python: a program that loops (`def f: f; f`) is
ended by killing its worker when the render's deadline (at most JQ_TIME_LIMIT)
passes, and one that grows (`[range(1e9)]`) hits the worker's address-space
limit (JQ_MEMORY_MIB) and dies there. Program, input and results are sized.

A plain path (`.`, `.a.b`, `.[0]`, `.["k"]`: most of Kestra's examples) is
read in Python when every step finds its key or index, as jq would; anything
else, a missing key or a wrong type included, goes to libjq.

Workers are reused (a request is one line each way over pipes), at most
MAX_WORKERS at once; one that timed out or died is replaced on the next call.
The worker gets an empty environment (`$ENV` shows nothing of the server's)
and jq's module search path is empty (no `import`/`include` of files).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.expressions.errors import EvalError
from runner.expressions.runtime import MAX_VALUE_CHARS, check_time, current, json_default

JQ_TIME_LIMIT = 5.0  # seconds per jq call (the render's own deadline may be sooner)
JQ_MEMORY_MIB = 512  # address space of a worker process
MAX_PROGRAM = 10_000  # characters of one jq program
MAX_RESULTS = 100_000
MAX_WORKERS = 4
RECYCLE_AFTER = 1 << 20  # characters of a request after which its worker is not reused
_WORKER = Path(__file__).with_name("jq_worker.py")
_PATH = re.compile(r'\.(?:[A-Za-z_]\w*)?(?:\.[A-Za-z_]\w*|\[[0-9]{1,9}\]|\["[^"\\]*"\])*', re.ASCII)
_STEP = re.compile(r'\.?([A-Za-z_]\w*)|\[([0-9]+)\]|\["([^"\\]*)"\]', re.ASCII)
_POLL = 0.05  # seconds between two checks of the render's cancel flag while waiting


class _Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(  # our own script, no shell
            [sys.executable, "-I", str(_WORKER), str(JQ_MEMORY_MIB)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={"LC_ALL": "C.UTF-8"}, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.out = self.proc.stdout.fileno()
        self.poller = select.poll()  # not select(): a busy server's descriptors pass 1024
        self.poller.register(self.out, select.POLLIN | select.POLLHUP)

    def ask(self, request: bytes, deadline: float) -> dict[str, Any]:
        """Send one request and wait for its answer line until deadline."""
        try:
            self.stdin.write(request)
            self.stdin.flush()
        except OSError:
            raise self._died() from None
        chunks: list[bytes] = []
        size = 0
        while True:
            _check_stop(deadline, self)
            if not self.poller.poll(_POLL * 1000):
                continue
            chunk = os.read(self.out, 1 << 16)
            if not chunk:
                raise self._died()
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\n"):
                return dict(json.loads(b"".join(chunks)))
            if size > 4 * MAX_VALUE_CHARS + 1024:  # the worker caps results: it misbehaves
                self.kill()
                raise EvalError("jq: the answer is too long")

    def _died(self) -> EvalError:
        self.kill()
        if self.proc.returncode in (-6, -9, 134, 137):  # libjq aborts when memory runs out
            return EvalError(f"jq: the program was stopped: it needed more than {JQ_MEMORY_MIB} "
                             "MiB of memory")
        return EvalError(f"jq: the worker stopped (exit code {self.proc.returncode})")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _check_stop(deadline: float, worker: _Worker) -> None:
    """Kill the worker when the render's deadline, its cancel flag or JQ_TIME_LIMIT says so."""
    try:
        if (st := current()) is not None:
            check_time(st)
        if time.monotonic() >= deadline:
            raise EvalError(f"jq: the program ran longer than {JQ_TIME_LIMIT:g}s")
    except EvalError:
        worker.kill()
        raise


class _Pool:
    """Idle workers of this process (a forked child starts its own)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)

    def take(self, deadline: float) -> _Worker:
        st = current()
        wait = deadline if st is None else min(deadline, st.deadline)
        if not self.slots.acquire(timeout=max(0.0, wait - time.monotonic())):
            raise EvalError("jq: no worker was free before the deadline")
        with self.lock:
            if self.idle:
                return self.idle.pop()
        try:
            return _Worker()
        except OSError as err:
            self.slots.release()
            raise EvalError(f"jq: cannot start a worker: {err}") from None

    def give(self, worker: _Worker, healthy: bool) -> None:
        if healthy:
            with self.lock:
                self.idle.append(worker)
        else:
            worker.kill()
        self.slots.release()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()


_pool = _Pool()
_pool_lock = threading.Lock()


def _current_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool.pid != os.getpid():  # forked: the parent's workers are not ours to use
            _pool = _Pool()
        return _pool


@atexit.register
def _close() -> None:
    if _pool.pid == os.getpid():
        _pool.close()


_MISS = object()


def plain_path(expression: str, value: Any) -> Any:
    """The one result of a plain path whose every step is found, else _MISS."""
    program = expression.strip()
    if not _PATH.fullmatch(program):
        return _MISS
    for step in _STEP.finditer(program, 1):
        name, index, quoted = step.groups()
        if index is not None:
            if not isinstance(value, list | tuple) or int(index) >= len(value):
                return _MISS
            value = value[int(index)]
        elif isinstance(value, Mapping) and (key := quoted if name is None else name) in value:
            value = value[key]
        else:
            return _MISS
    return value


def run(expression: str, value: Any) -> list[Any]:
    """Every result of the jq program on value (a string value is parsed as JSON)."""
    if len(expression) > MAX_PROGRAM:
        raise EvalError(f"jq: the program is longer than {MAX_PROGRAM} characters")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise EvalError(f"jq: the input is longer than {MAX_VALUE_CHARS} characters")
    data = value
    if isinstance(value, str) and _PATH.fullmatch(expression.strip()):
        try:
            data = json.loads(value)
        except ValueError:
            data = _MISS  # libjq says why
    if data is not _MISS and (found := plain_path(expression, data)) is not _MISS:
        return [found]
    return _libjq(expression, value)


def _libjq(expression: str, value: Any) -> list[Any]:
    try:
        text = value if isinstance(value, str) else json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=json_default)
    except (RecursionError, ValueError):
        raise EvalError("jq: the input is nested too deeply") from None
    if len(text) > MAX_VALUE_CHARS:
        raise EvalError(f"jq: the input is longer than {MAX_VALUE_CHARS} characters")
    request = json.dumps({"p": expression, "i": text, "s": isinstance(value, str),
                          "n": MAX_RESULTS, "c": MAX_VALUE_CHARS}, ensure_ascii=False) + "\n"
    deadline = time.monotonic() + JQ_TIME_LIMIT
    pool = _current_pool()
    worker = pool.take(deadline)
    healthy = False
    try:
        reply = worker.ask(request.encode(), deadline)
        # after a MemoryError, or a large input (whose memory the worker keeps), start afresh
        healthy = "oom" not in reply and len(request) <= RECYCLE_AFTER
    finally:
        pool.give(worker, healthy)
    if "error" in reply:
        raise EvalError(f"jq: {reply['error']}")
    return list(reply["ok"])
