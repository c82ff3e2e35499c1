"""Live progress on a terminal (rich): the running tasks with their elapsed time under the
log lines, redrawn a few times a second, so a silent step visibly keeps running.

The same lines as ConsoleReporter scroll above the live view; off a terminal (CI, pipes,
tests) `flows run` uses the plain ConsoleReporter and its heartbeat lines instead.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from runner.reporters.console import ConsoleReporter, elapsed


class LiveReporter(ConsoleReporter):
    def __init__(self, out: TextIO, *, level: str = "INFO") -> None:
        super().__init__(out, level=level, colour=True, heartbeat=0.0)
        self.console = Console(file=out, force_terminal=True)
        self.spinner = Spinner("dots", style="cyan")
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=True,
                         redirect_stdout=False, redirect_stderr=False)

    def __enter__(self) -> LiveReporter:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __rich__(self) -> RenderableType:
        """What the live view shows now: one row per running task, with its elapsed time."""
        now = self.clock()
        with self._lock:
            rows = [(run.task_id, elapsed(now - run.started)) for run in self.running.values()]
        table = Table.grid(padding=(0, 1))
        for task_id, took in rows:
            table.add_row(self.spinner, Text(task_id, style="bold"), Text(took, style="dim"))
        header = Text(f"{len(rows)} task(s) running" if rows else "", style="dim")
        return Group(header, table) if rows else Text("")

    def write(self, line: str) -> None:
        self.console.print(Text.from_ansi(line), soft_wrap=True)
