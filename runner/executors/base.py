"""What the executor adapters share: line splitting and the passed environment. The seam
itself (and which host paths would hand a step a container engine's socket) is
runner/ports/executor.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from runner.ports.executor import LineHandler


def passed_environment(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The variables of environ named in names (the ones set): what a step may see of the
    environment of the process running it (`pass_env`, `--pass-env`, the host basics)."""
    return {name: environ[name] for name in names if name in environ}


class LineSplitter:
    """Turns arbitrary byte chunks into complete decoded lines."""

    def __init__(self, stream: str, on_line: LineHandler) -> None:
        self.stream = stream
        self.on_line = on_line
        self.buffer = b""

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.on_line(self.stream, line.rstrip(b"\r").decode("utf-8", "replace"))

    def close(self) -> None:
        if self.buffer:
            self.on_line(self.stream, self.buffer.decode("utf-8", "replace"))
            self.buffer = b""
