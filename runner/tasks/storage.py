"""storage.LocalFiles (Kestra's, deprecated there in favour of WorkingDirectory's
inputFiles/outputFiles): write files into the working directory, keep matching ones."""

from __future__ import annotations

from runner.events import State
from runner.model import Task
from runner.ports.task import Outcome, TaskContext
from runner.tasks.files import collect_output_files, write_input_files
from runner.tasks.registry import TypeDef


def run_local_files(task: Task, ctx: TaskContext) -> Outcome:
    write_input_files({"inputFiles": task.props.get("inputs") or {}}, ctx)
    kept = collect_output_files({"outputFiles": task.props.get("outputs") or []}, ctx)
    return Outcome(State.SUCCESS, {"uris": kept} if kept else {})


TYPES = (
    TypeDef(name="io.kestra.plugin.core.storage.LocalFiles", kind="task",
            title="Write files into the working directory and keep the ones matching `outputs`",
            properties={"inputs": {"anyOf": [{"type": "object"}, {"type": "string"}]},
                        "outputs": {"type": "array", "items": {"type": "string"}}},
            run=run_local_files, aliases=("io.kestra.core.tasks.storages.LocalFiles",)),
)
