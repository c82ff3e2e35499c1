"""Host executor: a process group per step, output streamed line by line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO

from runner.executors.base import ExecutorError, LineHandler, LineSplitter, ProcessResult, ProcessSpec

GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL


class LocalExecutor:
    name = "process"

    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult:
        lock = threading.Lock()

        def locked(stream: str, line: str) -> None:
            with lock:  # stdout and stderr readers must not interleave handler calls
                on_line(stream, line)

        try:
            proc = subprocess.Popen(
                list(spec.command), cwd=spec.workdir, env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as err:
            raise ExecutorError(f"cannot start {spec.command[0]}: {err.strerror}") from None
        assert proc.stdout is not None and proc.stderr is not None
        readers = [threading.Thread(target=_pump, args=(pipe, LineSplitter(name, locked)),
                                    daemon=True)
                   for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
        for reader in readers:
            reader.start()
        deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
        timed_out = killed = False
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                killed = True
            elif deadline is not None and time.monotonic() >= deadline:
                timed_out = True
            if killed or timed_out:
                _stop(proc)
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        code = proc.wait()
        for reader in readers:
            reader.join()
        return ProcessResult(exit_code=code, timed_out=timed_out, killed=killed)


    def close_session(self, session: str) -> None:
        """Host processes keep nothing between steps."""


def _pump(pipe: IO[bytes], splitter: LineSplitter) -> None:
    with pipe:
        while chunk := os.read(pipe.fileno(), 65536):
            splitter.feed(chunk)
    splitter.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
