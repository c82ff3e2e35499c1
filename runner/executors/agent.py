"""An in-container agent: one long-lived `sh` runs every step of a session container.

A `docker exec` costs tens of milliseconds of engine round trips; a step handed to a
shell already running in the container costs a fork. The agent needs only a POSIX `sh`
(busybox is enough). It talks through FIFOs in a private host directory bind-mounted
into the container at the same path:

- `req`: the host writes a step number per line; the agent runs `<n>.sh` (written by the
  host: cd, exports, exec of the command) in a background subshell, stdout and stderr to
  the FIFOs `<n>.out` and `<n>.err`, and writes `<n> <exit code>` to `rep`.
- `rep`: held open read-write by the host, so neither side ever blocks on it.

A stop of the step is a stop of its container, as with docker exec. A dead agent (no
reader on `req`) is reported as None, and the executor falls back to docker exec.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import select
import shlex
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from runner.ports.executor import ProcessSpec

PREFIX = "gitflows-agent-"  # then the owner's pid: a SIGKILLed runner's are reaped
READY_SECONDS = 10.0  # a busybox sh starts in milliseconds; this only bounds a broken image
POLL_MS = 200  # how often a waiting step looks whether its agent is still there
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# $1: the agent directory. fd 3 reads requests, fd 4 writes replies; a step's subshell
# closes fd 3, so a dead agent leaves `req` without a reader (the host sees ENXIO).
SCRIPT = (
    'd=$1; exec 3<>"$d/req" 4>"$d/rep" || exit 1; echo "ready $$" >&4; '
    'while read -r n <&3; do '
    '( exec 3<&-; sh "$d/$n.sh" </dev/null >"$d/$n.out" 2>"$d/$n.err" 4>&-; echo "$n $?" >&4 ) & '
    'done')
# PID 1 of the session container: starts the agent, then keeps the container alive for
# docker exec (the fallback) even when the agent is gone; exits at once on SIGTERM.
KEEPALIVE = ("/bin/sh", "-c",
             "trap 'exit 0' TERM INT; /bin/sh -c \"$0\" agent \"$1\" & "
             "while :; do sleep 3600 & wait $!; done")


def reap_dirs(alive: Callable[[int], bool]) -> list[Path]:
    """Remove the agent directories of runners of this host that are gone."""
    removed = []
    for found in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = found.name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(found, ignore_errors=True)
            removed.append(found)
    return removed


def script_for(spec: ProcessSpec) -> str | None:
    """The step as a shell script (cd, exports, exec), or None when it cannot be one."""
    if not spec.command or not all(_NAME.match(name) for name in spec.env):
        return None
    lines = [f"cd -- {shlex.quote(str(spec.workdir.resolve()))} || exit 126"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in spec.env.items()]
    lines.append("exec " + " ".join(shlex.quote(part) for part in spec.command))
    return "\n".join(lines) + "\n"


class Agent:
    """The host's end of one container's agent."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        os.mkfifo(self.dir / "req", 0o600)
        os.mkfifo(self.dir / "rep", 0o600)
        self._rep = os.open(self.dir / "rep", os.O_RDWR)
        self._lock = threading.Lock()
        self._codes: dict[int, int] = {}
        self._arrived = threading.Condition(self._lock)
        self._ready = threading.Event()
        self.closed = threading.Event()
        self._numbers = itertools.count(1)
        self.pid: int | None = None  # the agent's pid in the container, once ready
        threading.Thread(target=self._replies, daemon=True).start()

    def command(self) -> list[str]:
        """The session container's command (entrypoint /bin/sh)."""
        return [KEEPALIVE[1], KEEPALIVE[2], SCRIPT, str(self.dir)]

    def wait_ready(self, timeout: float = READY_SECONDS) -> bool:
        return self._ready.wait(timeout) and self.alive()

    def _replies(self) -> None:
        with os.fdopen(self._rep, "rb", buffering=0, closefd=False) as raw:
            buffer = b""
            while not self.closed.is_set():
                chunk = raw.read(4096)
                if not chunk:
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._reply(line.decode("ascii", "replace").split())

    def _reply(self, words: list[str]) -> None:
        if words[:1] == ["ready"]:
            self.pid = int(words[1]) if len(words) == 2 and words[1].isdigit() else None
            self._ready.set()
        elif len(words) == 2 and words[0].isdigit() and words[1].lstrip("-").isdigit():
            with self._arrived:
                self._codes[int(words[0])] = int(words[1])
                self._arrived.notify_all()

    def alive(self) -> bool:
        """Whether the agent still reads requests (a FIFO without a reader refuses writers)."""
        try:
            fd = os.open(self.dir / "req", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.close(fd)
        return not self.closed.is_set()

    def submit(self, spec: ProcessSpec) -> Step | None:
        """Start the step; None when the agent is gone or the step is not a script."""
        script = script_for(spec)
        if script is None or self.closed.is_set():
            return None
        number = next(self._numbers)
        (self.dir / f"{number}.sh").write_text(script)
        for name in ("out", "err"):
            os.mkfifo(self.dir / f"{number}.{name}", 0o600)
        try:
            fd = os.open(self.dir / "req", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno not in (errno.ENXIO, errno.ENOENT):
                raise
            self._forget(number)
            return None
        try:
            os.write(fd, f"{number}\n".encode())
        finally:
            os.close(fd)
        return Step(self, number)

    def _forget(self, number: int) -> None:
        for name in ("sh", "out", "err"):
            with contextlib.suppress(OSError):
                (self.dir / f"{number}.{name}").unlink()

    def code(self, number: int, timeout: float) -> int | None:
        with self._arrived:
            self._arrived.wait_for(lambda: number in self._codes, timeout)
            return self._codes.pop(number, None)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        with contextlib.suppress(OSError):
            os.write(self._rep, b"\n")  # wakes the reply reader, which then sees closed
        with self._arrived:
            self._arrived.notify_all()
        shutil.rmtree(self.dir, ignore_errors=True)


class Step:
    """One step run by the agent: its output as (stdout, stderr) chunks, then its code."""

    def __init__(self, agent: Agent, number: int) -> None:
        self.agent, self.number = agent, number
        self.started = False
        self.exit_code = 137  # what a step stopped with its container gets

    def stream(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        base = self.agent.dir / str(self.number)
        fds = {os.open(f"{base}.{name}", os.O_RDONLY | os.O_NONBLOCK): name
               for name in ("out", "err")}
        poller = select.poll()
        for fd in fds:  # no POLLHUP before a writer came and went: waits for the step
            poller.register(fd, select.POLLIN)
        try:
            while fds:
                events = poller.poll(POLL_MS)
                if not events and self._abandoned():
                    return
                for fd, _ in events:
                    self.started = True
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        poller.unregister(fd)
                        del fds[fd]
                        os.close(fd)
                    elif fds[fd] == "out":
                        yield chunk, None
                    else:
                        yield None, chunk
        finally:
            for fd in fds:
                os.close(fd)

    def _abandoned(self) -> bool:
        if self.agent.closed.is_set():
            return True
        return not self.started and not self.agent.alive()  # the request was never read

    def wait(self) -> None:
        """Until the step's exit code arrives, or the agent or its container is gone."""
        while True:
            code = self.agent.code(self.number, POLL_MS / 1000)
            if code is not None:
                self.exit_code = code
                break
            if self.agent.closed.is_set() or not self.agent.alive():
                code = self.agent.code(self.number, 1.0)  # a reply still on its way
                self.exit_code = 137 if code is None else code
                break
        self.agent._forget(self.number)
