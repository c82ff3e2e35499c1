"""Validate flow files and directories: the engine of `flows validate`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from runner.diagnostics import Diagnostic, Severity
from runner.parse import parse_flow
from runner.tasks import Registry

FLOW_SUFFIXES = (".yml", ".yaml")


def flow_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named on the command line, and *.yml/*.yaml under named directories."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in FLOW_SUFFIXES and p.is_file())
        else:
            yield path


def validate_paths(paths: Iterable[str | Path],
                   registry: Registry | None = None) -> tuple[int, list[Diagnostic]]:
    """(number of files checked, diagnostics of all of them)."""
    found: list[Diagnostic] = []
    count = 0
    for file in flow_files(paths):
        count += 1
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            found.append(Diagnostic(str(file), 1, 1, Severity.ERROR, "unreadable", reason))
            continue
        _, diagnostics = parse_flow(text, str(file), registry)
        found.extend(diagnostics)
    return count, found
