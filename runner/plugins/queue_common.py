"""What the message-queue families (Redis lists, AMQP) share: reading `from`, the STRING /
JSON serdes, JSON Lines artifacts, durations and the test-only pause hooks.

No client library here: each family module stays the one importer of its own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runner.durations import parse_duration
from runner.model import Task
from runner.ports.task import TaskContext, TaskFailed

SERDE_TYPES = ("STRING", "JSON")
INLINE_LIMIT = 1000  # messages given inline (`messages`) besides the `uri` file; more: read the file
KEEP_DAYS = 7.0  # batch files handed to runs (`trigger.uri`) are kept this long
MAX_POLL_TAKE_SECONDS = 20.0  # well within polling.MAX_POLL_SECONDS
INT_OR_EXPR = {"type": ["integer", "string"]}
BOOL_OR_EXPR = {"type": ["boolean", "string"]}
SERDE_PROPERTY = {"type": "string", "enum": list(SERDE_TYPES), "description": "STRING (default) or JSON"}


def render_props(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """The task's properties, rendered (secret() values are masked in logs)."""
    props: dict[str, Any] = ctx.render(dict(task.props))
    return props


def serde_of(props: Mapping[str, Any]) -> str:
    serde = str(props.get("serdeType") or "STRING").upper()
    if serde not in SERDE_TYPES:
        raise TaskFailed(f"serdeType must be one of {', '.join(SERDE_TYPES)}, got '{serde}'")
    return serde


def serialize(value: Any, serde: str) -> str:
    """A value as stored on the wire: JSON text, or the string itself (JSON for non-strings)."""
    if serde == "JSON" or not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def deserialize(raw: bytes | str, serde: str, *, strict: bool = True) -> Any:
    """A stored value back; with strict=False a bad JSON item stays a string (a trigger must
    not be stuck on one poison message)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if serde != "JSON":
        return text
    try:
        return json.loads(text)
    except ValueError as err:
        if strict:
            raise TaskFailed(f"serdeType JSON: an item is not JSON ({err}): {text[:80]!r}") from None
        return text


def _path_of(text: str, workdir: Path) -> Path:
    for prefix in ("file://", "kestra://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    path = Path(text)
    return path if path.is_absolute() else workdir / path


def read_from(value: Any, workdir: Path) -> list[Any]:
    """Kestra's `from`: a list, one map, a JSON array (or object) in a string, or the path /
    file URI of a JSON Lines file (e.g. the `uri` output of a pop or consume task)."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [dict(value)]
    if not isinstance(value, str):
        raise TaskFailed(f"from must be a list, a map, a JSON array or a file URI, got {value!r}")
    stripped = value.strip()
    if stripped.startswith(("[", "{")):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
        if isinstance(parsed, dict):
            return [parsed]
    path = _path_of(stripped, workdir)
    if not path.is_file():
        raise TaskFailed(f"from: '{value}' is neither a JSON array nor a readable file")
    items: list[Any] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as err:
                raise TaskFailed(f"{path}:{number}: not JSON Lines: {err}") from None
    return items


def write_jsonl(path: Path, items: Iterable[Any]) -> int:
    """Write items as JSON Lines (one JSON value a line); the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")
            count += 1
    return count


def prune(directory: Path, pattern: str = "*.jsonl", days: float = KEEP_DAYS) -> None:
    """Delete a trigger's batch files older than `days`: their runs have long read them."""
    cutoff = time.time() - days * 86400
    for path in directory.glob(pattern):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass  # another poll removed it meanwhile


def inline(items: list[Any]) -> dict[str, Any]:
    """The inline `messages` output when the batch is small enough to carry in the run."""
    return {"messages": items} if len(items) <= INLINE_LIMIT else {}


def seconds(value: Any, what: str) -> float | None:
    """An ISO-8601 duration (or a number of seconds) as seconds; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_duration(str(value)).total_seconds()
    except ValueError as err:
        raise TaskFailed(f"{what}: {err}") from None


def positive_int(value: Any, what: str, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TaskFailed(f"{what} must be an integer, got {value!r}") from None
    if number < 1:
        raise TaskFailed(f"{what} must be at least 1, got {number}")
    return number


def flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def task_timeout(ctx: TaskContext, default: float = 60) -> float:
    remaining = ctx.remaining()
    return max(remaining.total_seconds(), 0.1) if remaining else default


def pause_for_tests(stage: str) -> None:
    """Tests only: sleep at a crash window (GITFLOWS_TEST_PAUSE_<STAGE>=seconds) so a test can
    kill -9 the server exactly there. Unset in real use."""
    delay = os.environ.get(f"GITFLOWS_TEST_PAUSE_{stage.upper()}")
    if delay:
        time.sleep(float(delay))
