"""Host executor: a process group per step, output streamed line by line."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from runner.executors.base import LineSplitter, passed_environment
from runner.ports.executor import EXECUTION_LABEL, ExecutorError, LineHandler, ProcessResult, ProcessSpec

GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL
DEATH_WAIT_SECONDS = 5.0  # a SIGKILLed group is gone well within this
# What a host step takes from the environment of the process that runs it (`flows run`, the
# server): enough to find programs and speak the locale, nothing that can carry a credential.
# Anything else reaches a step only through the flow's `env` or the operator's pass_env.
HOST_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL",
                  "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR", "TERM")


class LocalExecutor:
    """groups: where running steps' process groups are recorded (a server sets it, so the
    server taking over a run whose server died kills them before the run starts again)."""

    name = "process"

    def __init__(self, groups: ProcessGroups | None = None) -> None:
        self.groups = groups

    def run(self, spec: ProcessSpec, on_line: LineHandler,
            cancel: threading.Event | None = None) -> ProcessResult:
        lock = threading.Lock()

        def locked(stream: str, line: str) -> None:
            with lock:  # stdout and stderr readers must not interleave handler calls
                on_line(stream, line)

        gated = self.groups is not None and bool(spec.labels.get(EXECUTION_LABEL))
        env = {**passed_environment(os.environ, HOST_VARIABLES), **spec.env}
        if gated and not _startable(spec.command[0], spec.workdir, env):
            raise ExecutorError(f"cannot start {spec.command[0]}: No such file or directory")
        try:
            proc = subprocess.Popen(
                [*GATE, *spec.command] if gated else list(spec.command), cwd=spec.workdir, env=env,
                stdin=subprocess.PIPE if gated else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as err:
            raise ExecutorError(f"cannot start {spec.command[0]}: {err.strerror}") from None
        record = self._record(spec, proc)
        if gated:
            _open_gate(proc)
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
        if record is not None and self.groups is not None:
            self.groups.remove(record)
        return ProcessResult(exit_code=code, timed_out=timed_out, killed=killed)

    def _record(self, spec: ProcessSpec, proc: subprocess.Popen[bytes]) -> Path | None:
        """Record the step's group durably; a step that cannot be recorded does not run (a
        server taking its run over could not stop it, and the step would run twice)."""
        execution = spec.labels.get(EXECUTION_LABEL)
        if self.groups is None or not execution:
            return None
        try:
            return self.groups.add(execution, proc.pid)
        except OSError as err:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ExecutorError(f"cannot record the process of the step in {self.groups.root}: "
                                f"{err.strerror}") from None

    def close_session(self, session: str) -> None:
        """Host processes keep nothing between steps."""


# A recorded step waits on stdin until its group is on record: a worker killed right after the
# start must never leave a step no record names (the next worker could not stop it). EOF (the
# worker died first) ends it unrun; then the step gets /dev/null as stdin, as unrecorded ones.
GATE = ("/bin/sh", "-c", 'read -r _ || exit 125; exec "$@" </dev/null', "gitflows-step")


def _startable(program: str, workdir: Path, env: dict[str, str]) -> bool:
    """What Popen would find (the gate's shell would only say 127 later)."""
    if "/" in program:
        path = Path(program) if os.path.isabs(program) else workdir / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program, path=env.get("PATH", os.defpath)) is not None


def _open_gate(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError), proc.stdin:
        proc.stdin.write(b"go\n")


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


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot) from /proc, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19]


def _alive(pid: int, started: str) -> bool:
    """The process is still the recorded one and not yet a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[19] == started and fields[0] not in ("Z", "X")


def _group_members(pgid: int, not_before: int) -> list[int]:
    """Live processes of group pgid started at or after not_before (its leader's start)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and int(fields[19]) >= not_before and fields[0] not in "ZX":
            members.append(int(entry.name))
    return members


class ProcessGroups:
    """Running host steps, one empty file per step: <root>/<execution id>/<pid>-<start time>.

    Steps run in their own session, so pid is also the group id. The start time makes sure a
    recycled pid is never taken for the step's. Files are written before the step can do much
    and removed when it ends; what a server killed with SIGKILL leaves is what still runs."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, execution: str) -> Path:
        if not execution or "/" in execution or execution.startswith("."):
            raise ValueError(f"'{execution}' is not an execution id")
        return self.root / execution

    def add(self, execution: str, pid: int) -> Path:
        started = start_time(pid)
        if started is None:  # it ended at once: nothing left to stop
            started = "0"
        folder = self._dir(execution)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{pid}-{started}"
        # no fsync: a SIGKILLed server loses nothing the kernel has; a power cut ends the step
        path.touch()
        return path

    def remove(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when it was the execution's last step

    def recorded(self, execution: str) -> list[tuple[int, str]]:
        folder = self._dir(execution)
        found = []
        for path in folder.glob("*-*") if folder.is_dir() else ():
            pid, _, started = path.name.partition("-")
            if pid.isdigit() and started.isdigit():
                found.append((int(pid), started))
        return found

    def kill(self, execution: str) -> list[int]:
        """SIGKILL the groups of the execution's recorded steps and wait until they are gone;
        the pids of the groups that were still running."""
        killed = []
        for pid, started in self.recorded(execution):
            if _alive(pid, started):
                targets = [pid]
            else:  # the leader ended (or is a zombie); members of its group may still run
                targets = [p for p in _group_members(pid, int(started)) if p != pid]
            if targets:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
        deadline = time.monotonic() + DEATH_WAIT_SECONDS
        while killed and time.monotonic() < deadline and any(
                _group_members(pid, int(started)) for pid, started in self.recorded(execution)):
            time.sleep(0.02)
        folder = self._dir(execution)
        for path in folder.glob("*") if folder.is_dir() else ():
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
        return killed
