"""runner.tasks.index names every built-in type and alias with the family that defines it:
a flow loads only the families it uses, so a name missing there would read as unknown."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path

from runner.tasks import BUILTIN_TYPES, BuiltinRegistry, default_registry
from runner.tasks.index import FAMILIES


def test_the_index_matches_the_families() -> None:
    for family, names in FAMILIES.items():
        types = import_module(f"runner.tasks.{family}").TYPES
        defined = tuple(n for t in types for n in (t.name, *t.aliases))
        assert names == defined, (
            f"runner/tasks/index.py is out of date for '{family}': run `python -m runner.tasks.index`")
    modules = {p.stem for p in Path(import_module("runner.tasks").__file__ or "").parent.glob("*.py")}
    with_types = {m for m in modules if hasattr(import_module(f"runner.tasks.{m}"), "TYPES")}
    assert with_types == set(FAMILIES), "a new family module: run `python -m runner.tasks.index`"


def test_lazy_lookups_give_what_the_full_list_gives() -> None:
    lazy = BuiltinRegistry()
    for typedef in BUILTIN_TYPES:
        for name in (typedef.name, *typedef.aliases):
            found = BuiltinRegistry().resolve(name)  # a fresh one: only that family loaded
            assert found is not None and found.typedef == typedef
            assert lazy.resolve(name, typedef.kind) is not None
    assert list(lazy) == list(BUILTIN_TYPES)  # same order as the full list (the schema's)
    assert BuiltinRegistry().resolve("io.kestra.plugin.core.log.Nope") is None
    assert BuiltinRegistry().closest("io.kestra.plugin.core.log.Lgo", "task") == \
        "io.kestra.plugin.core.log.Log"


def test_untrusted_marks_are_the_same_whatever_loads_first() -> None:
    registry = BuiltinRegistry()
    assert registry.resolve("io.kestra.plugin.core.log.Log").typedef.untrusted_ok  # type: ignore[union-attr]
    assert not registry.resolve("io.kestra.plugin.core.http.Request").typedef.untrusted_ok  # type: ignore[union-attr]
    assert registry.resolve("io.kestra.plugin.scripts.shell.Commands").typedef.untrusted_ok  # type: ignore[union-attr]


def test_a_known_flow_of_one_family_does_not_load_the_others(tmp_path: Path) -> None:
    """Once the flow passed the schema (kept on disk), a fresh process loads core alone."""
    code = ("import sys\nfrom runner.language.parse import parse_flow\n"
            "flow, found = parse_flow('id: a\\nnamespace: b\\ntasks:\\n  - id: t\\n"
            "    type: io.kestra.plugin.core.log.Log\\n    message: hi\\n', 'f.yml')\n"
            "assert flow is not None, found\n"
            "print(sorted(m for m in ('runner.tasks.http', 'runner.tasks.notifications', "
            "'runner.tasks.storage_items', 'runner.tasks.kv') if m in sys.modules))\n")
    env = {**os.environ, "GITFLOWS_CACHE_DIR": str(tmp_path)}
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True, env=env).stdout.strip() for _ in range(2))
    assert first != "[]"  # the schema was built: every family
    assert second == "[]"


def test_the_default_registry_still_lists_everything() -> None:
    names = {t.name for t in default_registry()}
    assert {t.name for t in BUILTIN_TYPES} <= names
