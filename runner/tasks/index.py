"""Which built-in family module defines each type name and legacy alias, so a flow loads
only the families it uses (issue 21, cold start). After adding a type or a family module:
`python -m runner.tasks.index` rewrites the table; tests/unit/test_task_index.py checks it."""

from __future__ import annotations

# family module (runner.tasks.<family>) -> its type names and aliases, in registration order
FAMILIES: dict[str, tuple[str, ...]] = {
    "core": (
        "io.kestra.plugin.core.log.Log",
        "io.kestra.core.tasks.log.Log",
        "io.kestra.plugin.core.debug.Return",
        "io.kestra.core.tasks.debugs.Return",
        "io.kestra.plugin.core.debug.Echo",
        "io.kestra.core.tasks.debugs.Echo",
        "io.kestra.plugin.core.output.OutputValues",
        "io.kestra.plugin.core.execution.Fail",
        "io.kestra.core.tasks.executions.Fail",
        "io.kestra.plugin.core.execution.Exit",
        "io.kestra.plugin.core.execution.Labels",
        "io.kestra.core.tasks.executions.Labels",
        "io.kestra.plugin.core.trigger.Schedule",
        "io.kestra.core.models.triggers.types.Schedule",
        "io.kestra.plugin.core.trigger.Flow",
        "io.kestra.core.models.triggers.types.Flow",
        "io.kestra.plugin.core.trigger.Webhook",
        "io.kestra.core.models.triggers.types.Webhook",
    ),
    "flow": (
        "io.kestra.plugin.core.flow.Sequential",
        "io.kestra.core.tasks.flows.Sequential",
        "io.kestra.plugin.core.flow.Parallel",
        "io.kestra.core.tasks.flows.Parallel",
        "io.kestra.plugin.core.flow.If",
        "io.kestra.core.tasks.flows.If",
        "io.kestra.plugin.core.flow.Switch",
        "io.kestra.core.tasks.flows.Switch",
        "io.kestra.plugin.core.flow.ForEach",
        "io.kestra.plugin.core.flow.Dag",
        "io.kestra.core.tasks.flows.Dag",
        "io.kestra.plugin.core.flow.AllowFailure",
        "io.kestra.core.tasks.flows.AllowFailure",
        "io.kestra.plugin.core.flow.WorkingDirectory",
        "io.kestra.core.tasks.flows.WorkingDirectory",
        "io.kestra.plugin.core.flow.WaitFor",
        "io.kestra.plugin.core.flow.LoopUntil",
        "io.kestra.plugin.core.flow.Subflow",
        "io.kestra.core.tasks.flows.Subflow",
        "io.kestra.core.tasks.flows.Flow",
        "io.kestra.plugin.core.flow.Pause",
        "io.kestra.core.tasks.flows.Pause",
        "io.kestra.plugin.core.flow.Sleep",
    ),
    "kv": (
        "io.kestra.plugin.core.kv.Set",
        "io.kestra.plugin.core.kv.Get",
        "io.kestra.plugin.core.kv.Delete",
        "io.kestra.plugin.core.kv.GetKeys",
    ),
    "http": (
        "io.kestra.plugin.core.http.Request",
        "io.kestra.plugin.fs.http.Request",
        "io.kestra.plugin.core.http.Download",
        "io.kestra.plugin.fs.http.Download",
    ),
    "scripts": (
        "io.kestra.plugin.scripts.shell.Commands",
        "io.kestra.core.tasks.scripts.Bash",
        "io.kestra.plugin.scripts.shell.Script",
        "io.kestra.plugin.scripts.python.Commands",
        "io.kestra.plugin.scripts.python.Script",
        "io.kestra.plugin.scripts.node.Commands",
        "io.kestra.plugin.scripts.node.Script",
        "io.kestra.plugin.scripts.ruby.Commands",
        "io.kestra.plugin.scripts.ruby.Script",
        "io.kestra.plugin.scripts.r.Commands",
        "io.kestra.plugin.scripts.r.Script",
        "io.kestra.plugin.scripts.julia.Commands",
        "io.kestra.plugin.scripts.julia.Script",
        "io.kestra.plugin.scripts.go.Commands",
        "io.kestra.plugin.scripts.go.Script",
        "io.kestra.plugin.scripts.perl.Commands",
        "io.kestra.plugin.scripts.perl.Script",
        "io.kestra.plugin.scripts.php.Commands",
        "io.kestra.plugin.scripts.php.Script",
        "io.kestra.plugin.scripts.lua.Commands",
        "io.kestra.plugin.scripts.lua.Script",
        "io.kestra.plugin.scripts.powershell.Commands",
        "io.kestra.plugin.scripts.powershell.Script",
        "io.kestra.plugin.scripts.deno.Commands",
        "io.kestra.plugin.scripts.deno.Script",
        "io.kestra.plugin.scripts.bun.Commands",
        "io.kestra.plugin.scripts.bun.Script",
        "io.kestra.plugin.scripts.jbang.Commands",
        "io.kestra.plugin.scripts.jbang.Script",
        "io.kestra.plugin.scripts.groovy.Commands",
        "io.kestra.plugin.scripts.groovy.Script",
        "io.kestra.plugin.scripts.exec.Commands",
        "io.kestra.plugin.scripts.runner.docker.Docker",
        "io.kestra.plugin.core.runner.Process",
    ),
    "storage": (
        "io.kestra.plugin.core.storage.LocalFiles",
        "io.kestra.core.tasks.storages.LocalFiles",
    ),
    "git_triggers": (
        "gitflows.trigger.Push",
        "gitflows.trigger.PullRequest",
        "gitflows.trigger.Tag",
    ),
    "notifications": (
        "io.kestra.plugin.notifications.slack.SlackIncomingWebhook",
        "io.kestra.plugin.notifications.teams.TeamsIncomingWebhook",
        "io.kestra.plugin.notifications.discord.DiscordIncomingWebhook",
        "io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook",
        "io.kestra.plugin.notifications.telegram.TelegramSend",
        "io.kestra.plugin.notifications.mail.MailSend",
    ),
    "fs_local": (
        "io.kestra.plugin.fs.local.Trigger",
    ),
    "each": (
        "io.kestra.plugin.core.flow.EachSequential",
        "io.kestra.core.tasks.flows.EachSequential",
        "io.kestra.plugin.core.flow.EachParallel",
        "io.kestra.core.tasks.flows.EachParallel",
        "io.kestra.plugin.core.flow.Template",
        "io.kestra.core.tasks.flows.Template",
    ),
    "storage_files": (
        "io.kestra.plugin.core.storage.Write",
        "io.kestra.core.tasks.storages.Write",
        "io.kestra.plugin.core.storage.Concat",
        "io.kestra.core.tasks.storages.Concat",
        "io.kestra.plugin.core.storage.Split",
        "io.kestra.core.tasks.storages.Split",
        "io.kestra.plugin.core.storage.Size",
        "io.kestra.core.tasks.storages.Size",
        "io.kestra.plugin.core.storage.Reverse",
        "io.kestra.core.tasks.storages.Reverse",
        "io.kestra.plugin.core.storage.Delete",
        "io.kestra.core.tasks.storages.Delete",
        "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles",
        "io.kestra.core.tasks.storages.PurgeCurrentExecutionFiles",
    ),
    "storage_items": (
        "io.kestra.plugin.core.storage.DeduplicateItems",
        "io.kestra.core.tasks.storages.DeduplicateItems",
        "io.kestra.plugin.core.storage.FilterItems",
        "io.kestra.core.tasks.storages.FilterItems",
    ),
    "runtime": (
        "io.kestra.plugin.core.execution.Assert",
        "io.kestra.plugin.core.log.Fetch",
        "io.kestra.core.tasks.log.Fetch",
        "io.kestra.plugin.core.metric.Publish",
        "io.kestra.plugin.core.templating.TemplatedTask",
        "io.kestra.core.tasks.templating.TemplatedTask",
    ),
    "namespace": (
        "io.kestra.plugin.core.namespace.DownloadFiles",
        "io.kestra.plugin.core.namespace.UploadFiles",
        "io.kestra.plugin.core.namespace.DeleteFiles",
    ),
    "foreach_item": (
        "io.kestra.plugin.core.flow.ForEachItem",
        "io.kestra.core.tasks.flows.ForEachItem",
    ),
    "execution_vars": (
        "io.kestra.plugin.core.execution.SetVariables",
        "io.kestra.plugin.core.execution.UnsetVariables",
        "io.kestra.plugin.core.execution.Kill",
    ),
    "state": (
        "io.kestra.plugin.core.state.Set",
        "io.kestra.core.tasks.states.Set",
        "io.kestra.plugin.core.state.Get",
        "io.kestra.core.tasks.states.Get",
        "io.kestra.plugin.core.state.Delete",
        "io.kestra.core.tasks.states.Delete",
        "io.kestra.plugin.core.kv.PurgeKV",
    ),
    "server_only": (
        "io.kestra.plugin.core.execution.Count",
        "io.kestra.core.tasks.executions.Counts",
        "io.kestra.plugin.core.execution.Resume",
        "io.kestra.plugin.core.execution.PurgeExecutions",
        "io.kestra.core.tasks.storages.PurgeExecution",
        "io.kestra.plugin.core.log.PurgeLogs",
        "io.kestra.plugin.core.trigger.Toggle",
        "io.kestra.plugin.core.trigger.ScheduleOnDates",
        "io.kestra.plugin.core.condition.DateTimeBetween",
        "io.kestra.core.models.conditions.types.DateTimeBetweenCondition",
        "io.kestra.plugin.core.condition.DateTimeBetweenCondition",
        "io.kestra.plugin.core.condition.DayWeek",
        "io.kestra.core.models.conditions.types.DayWeekCondition",
        "io.kestra.plugin.core.condition.DayWeekCondition",
        "io.kestra.plugin.core.condition.DayWeekInMonth",
        "io.kestra.core.models.conditions.types.DayWeekInMonthCondition",
        "io.kestra.plugin.core.condition.DayWeekInMonthCondition",
        "io.kestra.plugin.core.condition.ExecutionFlow",
        "io.kestra.core.models.conditions.types.ExecutionFlowCondition",
        "io.kestra.plugin.core.condition.ExecutionFlowCondition",
        "io.kestra.plugin.core.condition.ExecutionLabels",
        "io.kestra.core.models.conditions.types.ExecutionLabelsCondition",
        "io.kestra.plugin.core.condition.ExecutionLabelsCondition",
        "io.kestra.plugin.core.condition.ExecutionNamespace",
        "io.kestra.core.models.conditions.types.ExecutionNamespaceCondition",
        "io.kestra.plugin.core.condition.ExecutionNamespaceCondition",
        "io.kestra.plugin.core.condition.ExecutionOutputs",
        "io.kestra.core.models.conditions.types.ExecutionOutputsCondition",
        "io.kestra.plugin.core.condition.ExecutionOutputsCondition",
        "io.kestra.plugin.core.condition.ExecutionStatus",
        "io.kestra.core.models.conditions.types.ExecutionStatusCondition",
        "io.kestra.plugin.core.condition.ExecutionStatusCondition",
        "io.kestra.plugin.core.condition.Expression",
        "io.kestra.core.models.conditions.types.ExpressionCondition",
        "io.kestra.plugin.core.condition.ExpressionCondition",
        "io.kestra.plugin.core.condition.FlowCondition",
        "io.kestra.core.models.conditions.types.FlowCondition",
        "io.kestra.plugin.core.condition.FlowNamespaceCondition",
        "io.kestra.core.models.conditions.types.FlowNamespaceCondition",
        "io.kestra.plugin.core.condition.HasRetryAttempt",
        "io.kestra.core.models.conditions.types.HasRetryAttemptCondition",
        "io.kestra.plugin.core.condition.HasRetryAttemptCondition",
        "io.kestra.plugin.core.condition.MultipleCondition",
        "io.kestra.core.models.conditions.types.MultipleCondition",
        "io.kestra.plugin.core.condition.Not",
        "io.kestra.core.models.conditions.types.NotCondition",
        "io.kestra.plugin.core.condition.NotCondition",
        "io.kestra.plugin.core.condition.Or",
        "io.kestra.core.models.conditions.types.OrCondition",
        "io.kestra.plugin.core.condition.OrCondition",
        "io.kestra.plugin.core.condition.PublicHoliday",
        "io.kestra.core.models.conditions.types.PublicHolidayCondition",
        "io.kestra.plugin.core.condition.PublicHolidayCondition",
        "io.kestra.plugin.core.condition.TimeBetween",
        "io.kestra.core.models.conditions.types.TimeBetweenCondition",
        "io.kestra.plugin.core.condition.TimeBetweenCondition",
        "io.kestra.plugin.core.condition.Weekend",
        "io.kestra.core.models.conditions.types.WeekendCondition",
        "io.kestra.plugin.core.condition.WeekendCondition",
    ),
    "services": (
        "gitflows.docker.Services",
    ),
    "artifacts": (
        "gitflows.artifacts.Upload",
        "gitflows.artifacts.Download",
    ),
}


def generate() -> str:
    """This module's text for the current families: the known ones in their order, then any
    new module of runner/tasks/ that defines TYPES."""
    from importlib import import_module
    from pathlib import Path

    known = list(FAMILIES)
    here = Path(__file__).parent
    new = sorted(p.stem for p in here.glob("*.py") if p.stem not in known and p.stem != "index"
                 and hasattr(import_module(f"runner.tasks.{p.stem}"), "TYPES"))
    head = Path(__file__).read_text(encoding="utf-8").split("FAMILIES: dict")[0]
    lines = [head + "FAMILIES: dict[str, tuple[str, ...]] = {"]
    for family in known + new:
        types = import_module(f"runner.tasks.{family}").TYPES
        lines += [f'    "{family}": (', *(f'        "{n}",' for t in types
                                          for n in (t.name, *t.aliases)), "    ),"]
    tail = Path(__file__).read_text(encoding="utf-8").split("\n}\n", 1)[1]
    return "\n".join(lines) + "\n}\n" + tail


if __name__ == "__main__":  # python -m runner.tasks.index: rewrite this file
    from pathlib import Path

    Path(__file__).write_text(generate(), encoding="utf-8")
