"""`flows ci`'s reports: the job summary (Markdown) and the step outputs file, as GitHub
documents them ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runner.events import State
from runner.reporters.status_text import seconds_text

if TYPE_CHECKING:
    from runner.ci.job import CiResult

ICONS = {"SUCCESS": "✅", "WARNING": "⚠️", "FAILED": "❌", "KILLED": "🛑", "CANCELLED": "🛑",
         "SKIPPED": "⏭️"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(result: CiResult) -> str:
    """The job summary: one table row per flow, the log tail of each failed flow."""
    ctx = result.context
    lines = [f"### gitflows: {ctx.event} of `{ctx.repo}` at `{ctx.sha[:12]}`"
             + (f" ({_cell(ctx.ref)})" if ctx.ref else ""), ""]
    if ctx.untrusted:
        lines += ["Pull request from a fork: untrusted runs (no secrets, no network).", ""]
    rows = (*result.runs, *result.invalid, *result.skipped)
    if not rows:
        return "\n".join([*lines, "No flow is triggered by this event.", "", ""])
    lines += ["| flow | state | duration | run |", "|---|---|---|---|"]
    for run in rows:
        icon = ICONS.get(str(run.state), "")
        took = seconds_text(run.seconds) if run.seconds is not None else ""
        lines.append(f"| `{run.flow}` | {icon} {run.state} | {took} | "
                     f"{f'`{run.run_id}`' if run.run_id else _cell(run.note)} |")
    lines.append("")
    for run in (*result.runs, *result.invalid):
        if run.state in (State.SUCCESS, State.WARNING):
            continue
        where = f"task <code>{run.failed_task}</code>" if run.failed_task else "the run"
        what = f"<code>{run.file}</code> is not a valid flow" if run.file else \
            f"{where} {str(run.state).lower()}"
        fence = "````" if any("```" in line for line in run.tail) else "```"
        lines += [f"<details><summary>{ICONS.get(str(run.state), '')} <code>{run.flow}</code>: "
                  f"{what}</summary>", "", f"{fence}text", *run.tail, fence, "", "</details>", ""]
    return "\n".join([*lines, ""])


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append step outputs as GitHub documents it: name=value, or a heredoc when multi-line."""
    with path.open("a", encoding="utf-8") as out:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                out.write(f"{name}={value}\n")
