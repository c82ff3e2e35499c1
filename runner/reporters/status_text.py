"""What a commit status or check run says: short descriptions, check-run output,
and annotations parsed from `path:line[:col]: message` log lines.

Pure functions and frozen data; no HTTP here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.events import State

DESCRIPTION_LIMIT = 140
ELLIPSIS = "…"
OUTPUT_LIMIT = 65535  # GitHub check-run output summary/text
MESSAGE_LIMIT = 4000

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_ANNOTATION = re.compile(
    r"^\s*(?P<path>[^\s:\"'<>|*?]+):(?P<line>\d{1,9})(?::(?P<col>\d{1,9}))?:\s*(?P<msg>\S.*)$")
_LEVEL_WORD = re.compile(r"^(?P<word>fatal error|error|warning|warn|note|info)\b:?\s*", re.I)
_ERRORISH = re.compile(r"\berror\b", re.I)

RepoFiles = Callable[[str], bool]


def clean(text: str) -> str:
    """One line of printable, valid UTF-8: no ANSI colours, controls or runs of spaces."""
    text = text.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def truncate(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """At most `limit` characters, cut with … when longer."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    level: str  # notice | warning | failure (GitHub's annotation_level)
    message: str
    start_column: int | None = None

    def to_github(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "start_line": self.start_line,
                                "end_line": self.start_line, "annotation_level": self.level,
                                "message": self.message}
        if self.start_column is not None:
            data["start_column"] = data["end_column"] = self.start_column
        return data


def repo_path(candidate: str, is_repo_file: RepoFiles) -> str | None:
    """The repository path a log names: as given, without ./, or the longest tail of
    an absolute path (a checkout or container directory) that is a file of the repo."""
    candidate = candidate.strip().replace("\\", "/")
    parts = [p for p in PurePosixPath(candidate).parts if p not in ("/", ".")]
    if not parts or ".." in parts:
        return None
    for start in range(len(parts)):
        path = "/".join(parts[start:])
        if is_repo_file(path):
            return path
        if not candidate.startswith("/") and start == 0:
            return None  # a relative path must name a repository file as it is
    return None


def parse_annotation(message: str, log_level: str, is_repo_file: RepoFiles) -> Annotation | None:
    found = _ANNOTATION.match(clean(message))
    if found is None:
        return None
    path = repo_path(found["path"], is_repo_file)
    line = int(found["line"])
    if path is None or line < 1:
        return None
    text = found["msg"]
    level = {"ERROR": "failure", "WARN": "warning", "WARNING": "warning"}.get(log_level, "notice")
    word = _LEVEL_WORD.match(text)
    if word is not None:
        level = {"warning": "warning", "warn": "warning", "note": "notice",
                 "info": "notice"}.get(word["word"].lower(), "failure")
    col = int(found["col"]) if found["col"] else None
    return Annotation(path, line, level, truncate(text, MESSAGE_LIMIT),
                      col if col and col > 0 else None)


def files_under(root: Path) -> RepoFiles:
    """A RepoFiles check against a checkout directory (only paths inside it)."""
    base = root.resolve()

    def check(path: str) -> bool:
        try:
            target = (base / path).resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        return base in target.parents and target.is_file()

    return check


def files_in(paths: Collection[str]) -> RepoFiles:
    known = frozenset(paths)
    return known.__contains__


def is_errorish(level: str, message: str) -> bool:
    return level == "ERROR" or bool(_ERRORISH.search(message))


@dataclass(frozen=True)
class RunSummary:
    """A finished (or started) run, as the reporters describe it."""

    flow: str
    state: State
    seconds: float | None = None
    failed_task: str | None = None
    error_line: str | None = None
    log_tail: tuple[str, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    target_url: str | None = None
    reason: str | None = None  # why it ended, when not an ordinary run (skipped, lost)

    def description(self) -> str:
        """At most 140 characters, e.g. "SUCCESS in 12.3s", "FAILED at task build: …"."""
        state = str(self.state)
        took = f" in {seconds_text(self.seconds)}" if self.seconds is not None else ""
        if self.reason is not None:
            text = f"{self.reason}"
        elif self.state in (State.CREATED, State.QUEUED):
            text = "queued"
        elif self.state is State.RUNNING:
            text = "running"
        elif self.state is State.FAILED and self.failed_task:
            text = f"FAILED at task {clean(self.failed_task)}"
            text += f": {clean(self.error_line)}" if self.error_line else took
        elif self.state.failed:
            after = took.replace(" in ", " after ", 1)
            text = f"{state}{after}" + (f": {clean(self.error_line)}" if self.error_line else "")
        else:
            text = f"{state}{took}"
        return truncate(clean(text))

    def title(self) -> str:
        if self.reason is not None:
            return truncate(clean(self.reason))
        if self.state is State.FAILED and self.failed_task:
            return truncate(f"FAILED at task {clean(self.failed_task)}")
        took = f" in {seconds_text(self.seconds)}" if self.seconds is not None else ""
        return f"{self.state}{took}"

    def summary(self) -> str:
        """Markdown for a check run's output summary."""
        lines = [f"**{self.flow}**: {self.description()}"]
        if self.failed_task:
            lines.append(f"\nFailed task: `{clean(self.failed_task)}`")
        if self.error_line:
            lines.append(f"\n> {clean(self.error_line)[:MESSAGE_LIMIT]}")
        if self.annotations:
            lines.append(f"\n{len(self.annotations)} annotation(s) on the changed files.")
        if self.target_url:
            lines.append(f"\n[Run details]({self.target_url})")
        return "\n".join(lines)[:OUTPUT_LIMIT]

    def text(self) -> str | None:
        """The failed task's log tail as a Markdown code block, within GitHub's limit."""
        if not self.log_tail:
            return None
        fence = "````"
        budget = OUTPUT_LIMIT - 2 * len(fence) - 64
        body: list[str] = []
        used = 0
        for line in reversed(self.log_tail):
            line = _ANSI.sub("", line).replace(fence, "```")
            if used + len(line) + 1 > budget:
                break
            body.append(line)
            used += len(line) + 1
        header = f"Last {len(body)} log line(s) of task `{clean(self.failed_task or '-')}`:\n"
        return f"{header}{fence}\n" + "\n".join(reversed(body)) + f"\n{fence}"


def batches(items: Sequence[Annotation], size: int = 50) -> list[tuple[Annotation, ...]]:
    """Annotations in batches of at most `size` (GitHub takes 50 per request)."""
    return [tuple(items[i:i + size]) for i in range(0, len(items), max(1, size))]
