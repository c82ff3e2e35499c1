"""Plugin loading (entry points), missing-extra hints, and plugin types in the schema."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import cast

import pytest

from runner.events import State
from runner.language.parse import parse_flow
from runner.language.schema import build_schema
from runner.model import Position, Task
from runner.tasks import BUILTIN_TYPES, Outcome, Registry, TaskContext, TypeDef, default_registry
from runner.tasks.plugins import BUILT_IN, describe, load_plugins, missing_extra
from tests.conftest import REPO_ROOT

GREET = TypeDef(name="io.example.hello.Greet", kind="task", title="Greet",
                properties={"name": {"type": "string"}},
                run=lambda task, ctx: Outcome(State.SUCCESS, {"greeting": "hi"}))


@pytest.fixture
def fake_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("fake_gitflows_plugin")
    module.TYPES = (GREET,)  # type: ignore[attr-defined]
    module.CLASH = (TypeDef(name="io.kestra.plugin.core.log.Log", kind="task", title="x"),)  # type: ignore[attr-defined]
    module.ALIAS_CLASH = (TypeDef(name="io.x.Y", kind="task", title="x",  # type: ignore[attr-defined]
                                  aliases=("io.kestra.plugin.fs.http.Request",)),)
    module.NOT_TYPES = ["not a typedef"]  # type: ignore[attr-defined]
    module.NUMBER = 3  # type: ignore[attr-defined]

    def boom() -> None:
        raise RuntimeError("boom")

    module.boom = boom  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def entry(name: str, attr: str, module: str = "fake_gitflows_plugin") -> EntryPoint:
    return EntryPoint(name=name, value=f"{module}:{attr}", group="gitflows.plugins")


def test_plugin_types_join_the_builtins(fake_module: types.ModuleType) -> None:
    found = load_plugins(BUILTIN_TYPES, [entry("hello", "TYPES")])
    assert found.types == (GREET,) and not found.problems
    assert found.providers == {"io.example.hello.Greet": "?"}  # no distribution behind it
    registry = Registry([*BUILTIN_TYPES, *found.types])
    listed = {t["name"]: t for t in describe(registry, found)}
    assert listed["io.example.hello.Greet"]["provider"] == "?"
    assert listed["io.kestra.plugin.core.log.Log"]["provider"] == BUILT_IN


@pytest.mark.parametrize(("attr", "module", "expected"), [
    ("TYPES", "no_such_gitflows_plugin", "failed to load: ModuleNotFoundError"),
    ("MISSING", "fake_gitflows_plugin", "failed to load: AttributeError"),
    ("NOT_TYPES", "fake_gitflows_plugin", "holds str, not TypeDef"),
    ("NUMBER", "fake_gitflows_plugin", "is not an iterable of TypeDef"),
    ("CLASH", "fake_gitflows_plugin", "already exist: io.kestra.plugin.core.log.Log"),
    ("ALIAS_CLASH", "fake_gitflows_plugin", "already exist: io.kestra.plugin.fs.http.Request"),
])
def test_a_bad_plugin_is_reported_and_left_out(fake_module: types.ModuleType, attr: str, module: str,
                                               expected: str, caplog: pytest.LogCaptureFixture) -> None:
    found = load_plugins(BUILTIN_TYPES, [entry("bad", attr, module), entry("hello", "TYPES")])
    assert found.types == (GREET,)  # the good plugin still loads
    [problem] = found.problems
    assert problem.plugin == "bad" and expected in problem.message
    assert expected in caplog.text


def test_two_plugins_defining_the_same_type_keep_the_first(fake_module: types.ModuleType) -> None:
    found = load_plugins(BUILTIN_TYPES, [entry("b", "TYPES"), entry("a", "TYPES")])
    assert found.types == (GREET,)
    assert [p.plugin for p in found.problems] == ["b"]


def test_a_plugin_type_is_in_the_schema_with_its_properties() -> None:
    schema = build_schema(Registry([*BUILTIN_TYPES, GREET]))
    text = str(schema)
    assert "io.example.hello.Greet" in text
    assert "io.example.hello.Greet" not in str(build_schema(Registry(BUILTIN_TYPES)))


def test_the_default_registry_holds_the_builtins_and_notifications() -> None:
    registry = default_registry()
    for name in ("io.kestra.plugin.core.log.Log",
                 "io.kestra.plugin.notifications.slack.SlackIncomingWebhook",
                 "io.kestra.plugin.notifications.mail.MailSend"):
        assert registry.resolve(name, "task") is not None


@pytest.mark.parametrize(("name", "extra"), [
    ("io.kestra.plugin.jdbc.postgresql.Query", "postgres"),
    ("io.kestra.plugin.jdbc.mysql.Query", "mysql"),
    ("io.kestra.plugin.aws.s3.Upload", "s3"),
    ("io.kestra.plugin.redis.string.Get", "redis"),
    ("io.kestra.plugin.amqp.Publish", "amqp"),
    ("io.kestra.plugin.mqtt.Publish", "mqtt"),
])
def test_missing_extra_names_the_pip_extra(name: str, extra: str) -> None:
    assert missing_extra(name) == f"{name} needs the {extra} plugin: pip install 'gitflows[{extra}]'"


def test_unknown_types_outside_the_table_have_no_extra() -> None:
    assert missing_extra("io.kestra.plugin.core.log.Logg") is None
    assert missing_extra("io.kestra.plugin.jdbc.oracle.Query") is None


def test_validate_says_which_extra_provides_a_missing_type() -> None:
    """With only the built-in types (the postgres extra not installed)."""
    text = textwrap.dedent("""
        id: q
        namespace: company.team
        tasks:
          - id: query
            type: io.kestra.plugin.jdbc.postgresql.Query
            sql: select 1
    """).lstrip("\n")
    _, diagnostics = parse_flow(text, "f.yml", Registry(BUILTIN_TYPES))
    [diagnostic] = [d for d in diagnostics if d.code == "unknown-type"]
    assert diagnostic.message == ("io.kestra.plugin.jdbc.postgresql.Query needs the postgres plugin: "
                                  "pip install 'gitflows[postgres]'")
    assert (diagnostic.line, diagnostic.column) == (5, 11)


def test_the_example_plugin_greets() -> None:
    sys.path.insert(0, str(REPO_ROOT / "examples" / "gitflows-plugin-hello"))
    try:
        import gitflows_plugin_hello as hello
    finally:
        sys.path.pop(0)
    logged: list[str] = []

    class Ctx:
        def render(self, value: object) -> object:
            return value

        def log(self, level: str, message: str) -> None:
            logged.append(message)

    [typedef] = hello.TYPES
    assert typedef.run is not None
    task = Task(id="g", type=typedef.name, position=Position("f.yml", 1, 1), props={"name": "Ada"})
    outcome = typedef.run(task, cast(TaskContext, Ctx()))
    assert outcome.outputs == {"greeting": "Hello, Ada!"} and logged == ["Hello, Ada!"]
