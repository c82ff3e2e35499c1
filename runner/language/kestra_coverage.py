"""Which of Kestra's core types (io.kestra.plugin.core.*) this runner runs, only validates,
or does not support, and why: read from the type registry, so the README's table (generated
by `flows kestra-coverage`) cannot drift from the code."""

from __future__ import annotations

from dataclasses import dataclass

from runner.tasks.registry import Registry

CORE = "io.kestra.plugin.core"

# Kestra's core plugin, by package (kind, class names); legacy names come from the registry
KESTRA_CORE: dict[str, tuple[str, tuple[str, ...]]] = {
    "condition": ("condition", (
        "DateTimeBetween", "DayWeek", "DayWeekInMonth", "ExecutionFlow", "ExecutionLabels",
        "ExecutionNamespace", "ExecutionOutputs", "ExecutionStatus", "Expression",
        "FlowCondition", "FlowNamespaceCondition", "HasRetryAttempt", "MultipleCondition", "Not",
        "Or", "PublicHoliday", "TimeBetween", "Weekend")),
    "debug": ("task", ("Echo", "Return")),
    "execution": ("task", ("Assert", "Count", "Exit", "Fail", "Kill", "Labels",
                           "PurgeExecutions", "Resume", "SetVariables", "UnsetVariables")),
    "flow": ("task", ("AllowFailure", "Dag", "EachParallel", "EachSequential", "ForEach",
                      "ForEachItem", "If", "LoopUntil", "Parallel", "Pause", "Sequential",
                      "Sleep", "Subflow", "Switch", "Template", "WaitFor", "WorkingDirectory")),
    "http": ("task", ("Download", "Request", "SseRequest")),
    "kv": ("task", ("Delete", "Get", "GetKeys", "PurgeKV", "Set")),
    "log": ("task", ("Fetch", "Log", "PurgeLogs")),
    "metric": ("task", ("Publish",)),
    "namespace": ("task", ("DeleteFiles", "DownloadFiles", "PurgeFiles", "UploadFiles")),
    "output": ("task", ("OutputValues",)),
    "runner": ("runner", ("Process",)),
    "state": ("task", ("Delete", "Get", "Set")),
    "storage": ("task", ("Concat", "DeduplicateItems", "Delete", "FilterItems", "LocalFiles",
                         "PurgeCurrentExecutionFiles", "Reverse", "Size", "Split", "Write")),
    "templating": ("task", ("TemplatedTask",)),
    "trigger": ("trigger", ("Flow", "Schedule", "ScheduleOnDates", "Webhook")),
}
# types whose kind is not their package's: a trigger among tasks, a task among triggers
_OTHERS = {f"{CORE}.http.Trigger": "trigger", f"{CORE}.trigger.Toggle": "task"}

# why a core type is not registered at all (validate reports it as an unknown type)
NOT_SUPPORTED = {
    f"{CORE}.http.SseRequest": "not implemented yet; use http.Request",
    f"{CORE}.http.Trigger": "not implemented yet (polling an HTTP endpoint)",
    f"{CORE}.namespace.PurgeFiles": "namespace files are the repository's files: prune them with "
                                    "a commit",
}
# triggers this runner fires from `flows serve` (the others validate only)
SERVER_FIRED = {f"{CORE}.trigger.Schedule": "fired by `flows serve` (cron ticker)",
                f"{CORE}.trigger.Flow": "fired by `flows serve` when another flow's run ends",
                f"{CORE}.trigger.Webhook": "fired by `flows serve` on "
                                           "/api/v1/executions/webhook/{ns}/{id}/{key}",
                f"{CORE}.http.Trigger": "polled by `flows serve`"}
RUNS, VALIDATED, NOT = "runs", "validated only", "not supported"


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    status: str  # runs | validated only | not supported
    why: str
    legacy: tuple[str, ...] = ()


def core_types() -> list[tuple[str, str]]:
    """(type name, kind) of every Kestra core type, sorted by name."""
    found = [(f"{CORE}.{package}.{name}", kind)
             for package, (kind, names) in KESTRA_CORE.items() for name in names]
    found += list(_OTHERS.items())
    return sorted(found)


def coverage(registry: Registry) -> list[Row]:
    rows = []
    for name, kind in core_types():
        resolved = registry.resolve(name, kind)
        if resolved is None:
            rows.append(Row(name, kind, NOT, NOT_SUPPORTED.get(name, "not implemented yet")))
            continue
        typedef = resolved.typedef
        if typedef.unsupported:
            rows.append(Row(name, kind, VALIDATED, typedef.unsupported, typedef.aliases))
        elif kind == "trigger" and typedef.poll is None and name not in SERVER_FIRED:
            rows.append(Row(name, kind, VALIDATED, "accepted; not fired by the server",
                            typedef.aliases))
        else:
            note = SERVER_FIRED.get(name, "evaluated by `flows serve`'s Flow trigger"
                                    if kind == "condition" else "")
            rows.append(Row(name, kind, RUNS, note, typedef.aliases))
    return rows


def markdown(rows: list[Row]) -> str:
    """The README table: one line per type, counts first."""
    counts = {status: sum(r.status == status for r in rows) for status in (RUNS, VALIDATED, NOT)}
    head = (f"{len(rows)} core types: {counts[RUNS]} run, {counts[VALIDATED]} validated only, "
            f"{counts[NOT]} not supported.\n\n"
            "| Type (`io.kestra.plugin.core.`…) | Kind | Status | Notes (legacy names accepted) |\n"
            "|---|---|---|---|\n")
    lines = []
    for row in rows:
        legacy = "; ".join(f"`{a}`" for a in row.legacy)
        why = row.why.replace("|", "\\|")
        notes = " ".join(part for part in (f"{why}." if why else "",
                                           f"Legacy: {legacy}." if legacy else "") if part)
        lines.append(f"| `{row.name.removeprefix(CORE + '.')}` | {row.kind} | {row.status} | "
                     f"{notes} |")
    return head + "\n".join(lines) + "\n"
