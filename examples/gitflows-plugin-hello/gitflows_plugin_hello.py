"""A minimal gitflows plugin: one task type, `io.example.hello.Greet`.

Install it next to gitflows (`pip install ./examples/gitflows-plugin-hello`) and
`flows plugins` lists the type; `flows schema` and `flows validate` know it.
"""

from __future__ import annotations

from runner.events import State
from runner.model import Task
from runner.tasks import Outcome, TaskContext, TaskFailed, TypeDef


def greet(task: Task, ctx: TaskContext) -> Outcome:
    name = ctx.render(task.props.get("name", "world"))
    if not isinstance(name, str) or not name.strip():
        raise TaskFailed("name must be a non-empty string")
    greeting = f"Hello, {name}!"
    ctx.log("INFO", greeting)
    return Outcome(State.SUCCESS, {"greeting": greeting})


TYPES = (
    TypeDef(name="io.example.hello.Greet", kind="task", title="Greet someone; outputs greeting",
            properties={"name": {"type": "string", "description": "who to greet"}},
            run=greet),
)
