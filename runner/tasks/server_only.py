"""Kestra core types that act on Kestra's server (its execution database, its trigger
table, its schedulers): they validate, so a Kestra flow that uses them is accepted, and a
task of them fails at run time saying why and what to use instead. Flow-trigger
conditions: the ones the server evaluates, and the others (the trigger never fires)."""

from __future__ import annotations

from runner.tasks.registry import TypeDef, validated_only

CORE = "io.kestra.plugin.core"
_HISTORY = ("this runner keeps no execution database: runs are recorded in the repository's "
            "git notes; query them with `flows history`")
_STR = {"type": "string"}
_STATES = {"type": "array", "items": _STR}

TASKS = (
    validated_only(f"{CORE}.execution.Count", "task", "Count executions in Kestra's database",
                   _HISTORY, {"flows": {"type": "array"}, "namespaces": _STATES,
                              "states": _STATES, "startDate": _STR, "endDate": _STR,
                              "expression": _STR, "labels": {"type": "object"}},
                   ("expression",), ("io.kestra.core.tasks.executions.Counts",)),
    validated_only(f"{CORE}.execution.Resume", "task", "Resume a paused execution",
                   "it resumes executions held by Kestra's executor; resume a paused run with "
                   "POST /api/v1/executions/{id}/resume on `flows serve`, or its UI",
                   {"executionId": _STR, "namespace": _STR, "flowId": _STR,
                    "inputs": {"type": "object"}}),
    validated_only(f"{CORE}.execution.PurgeExecutions", "task", "Purge old executions",
                   _HISTORY + " (history is pruned with git, not by a task)",
                   {"namespace": _STR, "flowId": _STR, "startDate": _STR, "endDate": _STR,
                    "states": _STATES, "purgeExecution": {"type": "boolean"},
                    "purgeLog": {"type": "boolean"}, "purgeMetric": {"type": "boolean"},
                    "purgeStorage": {"type": "boolean"}},
                   (), ("io.kestra.core.tasks.storages.PurgeExecution",)),
    validated_only(f"{CORE}.log.PurgeLogs", "task", "Purge old logs", _HISTORY,
                   {"namespace": _STR, "flowId": _STR, "executionId": _STR,
                    "logLevels": _STATES, "startDate": _STR, "endDate": _STR}),
    validated_only(f"{CORE}.trigger.Toggle", "task", "Enable or disable a trigger",
                   "Kestra keeps a trigger's enabled flag in its server database; here triggers "
                   "live in the flow file: set the trigger's `disabled:` with a commit",
                   {"namespace": _STR, "flowId": _STR, "trigger": _STR,
                    "enabled": {"type": ["boolean", "string"]}}, ("trigger",)),
)

TRIGGERS = (
    validated_only(f"{CORE}.trigger.ScheduleOnDates", "trigger",
                   "Start the flow at each of a list of dates",
                   "the server's scheduler fires cron schedules only; list the dates as a "
                   "Schedule cron, or start runs from CI at those dates",
                   {"dates": {"anyOf": [_STR, {"type": "array"}]}, "timezone": _STR,
                    "inputs": {"type": "object"}, "recoverMissedSchedules": _STR},
                   ("dates",)),
)

# conditions of a Flow trigger: the server judges them with runner.triggers.conditions
_CONDITIONS = {
    "DateTimeBetween": "now (or `date`) is between `after` and `before`",
    "DayWeek": "now (or `date`) is a `dayOfWeek`",
    "DayWeekInMonth": "now (or `date`) is the FIRST … FOURTH or LAST `dayOfWeek` of its month",
    "ExecutionFlow": "the upstream execution is of namespace/flowId",
    "ExecutionLabels": "the upstream execution has these labels",
    "ExecutionNamespace": "the upstream execution's namespace EQUALS, has the PREFIX or SUFFIX",
    "ExecutionOutputs": "the expression on the upstream's outputs is true",
    "ExecutionStatus": "the upstream execution's state is in `in` and not in `notIn`",
    "Expression": "the expression (flow, execution, trigger of the upstream) is true",
    "FlowCondition": "deprecated: as ExecutionFlow",
    "FlowNamespaceCondition": "deprecated: as ExecutionNamespace",
    "HasRetryAttempt": "",
    "MultipleCondition": "",
    "Not": "none of `conditions` holds",
    "Or": "one of `conditions` holds",
    "PublicHoliday": "",
    "TimeBetween": "the time of day is between `after` and `before`",
    "Weekend": "now (or `date`) is a Saturday or a Sunday",
}
_NOT_JUDGED = {
    "HasRetryAttempt": "it needs the upstream execution's task runs, which a Flow trigger does "
                       "not receive here: the trigger never fires (the server logs why)",
    "MultipleCondition": "a time window over several flows is not kept: the trigger never fires "
                         "(the server logs why); use preconditions with one upstream flow",
    "PublicHoliday": "no holiday calendar here: the trigger never fires (the server logs why); "
                     "use DayWeek / DateTimeBetween",
}
_LEGACY_CONDITION = "io.kestra.core.models.conditions.types"


def _condition_aliases(name: str) -> tuple[str, ...]:
    """Kestra's earlier names of a condition: `…conditions.types.XCondition`, then
    `…core.condition.XCondition` before the suffix was dropped."""
    if name.endswith("Condition"):
        return (f"{_LEGACY_CONDITION}.{name}",)
    return (f"{_LEGACY_CONDITION}.{name}Condition", f"{CORE}.condition.{name}Condition")


CONDITIONS = tuple(
    validated_only(f"{CORE}.condition.{name}", "condition", f"Flow-trigger condition {name}",
                   _NOT_JUDGED[name], aliases=_condition_aliases(name))
    if name in _NOT_JUDGED else
    TypeDef(name=f"{CORE}.condition.{name}", kind="condition", title=title,
            aliases=_condition_aliases(name))
    for name, title in _CONDITIONS.items())

TYPES = (*TASKS, *TRIGGERS, *CONDITIONS)
