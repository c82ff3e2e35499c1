"""Flows known to pass the schema: a fresh process skips jsonschema for them, and a flow is
checked again whenever the schema (a plugin installed or removed) or its data changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner.language.schema import FlowValidator, build_schema
from runner.language.schema_cache import MAX_KEYS, Passes
from runner.tasks import Registry, TypeDef
from runner.yamlsource import load

FLOW = "id: one\nnamespace: team\ntasks:\n  - id: t\n    type: x.Hello\n"


def _schema(required: tuple[str, ...] = ()) -> dict[str, object]:
    hello = TypeDef(name="x.Hello", kind="task", title="hello",
                    properties={"who": {"type": "string"}}, required=required)
    return build_schema(Registry([hello]))


def test_a_pass_is_kept_and_reused(tmp_path: Path) -> None:
    passes = Passes(tmp_path / "passes")
    assert FlowValidator(_schema(), passes).validate(load(FLOW, "f.yml")) == []
    assert len((tmp_path / "passes").read_text().split()) == 1
    fresh = FlowValidator(_schema(), Passes(tmp_path / "passes"))
    assert fresh.validate(load(FLOW, "f.yml")) == []
    assert fresh._validator is None  # answered from the kept pass, nothing compiled


def test_a_stricter_schema_checks_a_kept_flow_again(tmp_path: Path) -> None:
    """A plugin installed or removed changes the schema: the kept verdict does not carry over."""
    FlowValidator(_schema(), Passes(tmp_path / "passes")).validate(load(FLOW, "f.yml"))
    strict = FlowValidator(_schema(required=("who",)), Passes(tmp_path / "passes"))
    found = strict.validate(load(FLOW, "f.yml"))
    assert [d.code for d in found] == ["missing-property"]


def test_failures_are_never_kept(tmp_path: Path) -> None:
    schema = _schema(required=("who",))
    for _ in range(2):
        found = FlowValidator(schema, Passes(tmp_path / "passes")).validate(load(FLOW, "f.yml"))
        assert [(d.code, d.line) for d in found] == [("missing-property", 4)]
    assert not (tmp_path / "passes").exists()


def test_changed_data_is_checked_again(tmp_path: Path) -> None:
    schema = _schema()
    FlowValidator(schema, Passes(tmp_path / "passes")).validate(load(FLOW, "f.yml"))
    found = FlowValidator(schema, Passes(tmp_path / "passes")).validate(
        load(FLOW + "    who: 3\n", "f.yml"))
    assert [d.code for d in found] == ["invalid-type"]


def test_data_json_cannot_hold_exactly_is_not_kept(tmp_path: Path) -> None:
    """An integer key would read as the string key: such a flow is always checked."""
    text = "id: one\nnamespace: team\ntasks:\n  - id: t\n    type: x.Hello\n    1: a\n"
    FlowValidator(_schema(), Passes(tmp_path / "passes")).validate(load(text, "f.yml"))
    assert not (tmp_path / "passes").exists()


def test_the_kept_passes_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "passes"
    path.write_text("".join(f"{i:064x}\n" for i in range(MAX_KEYS)))
    Passes(path).add("f" * 64)
    keys = path.read_text().split()
    assert len(keys) == MAX_KEYS // 2 + 1 and keys[-1] == "f" * 64


def test_an_unwritable_cache_still_validates(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    passes = Passes(blocker / "passes")  # its directory cannot be created
    assert FlowValidator(_schema(), passes).validate(load(FLOW, "f.yml")) == []
    strict = FlowValidator(_schema(required=("who",)), passes)
    assert [d.code for d in strict.validate(load(FLOW, "f.yml"))] == ["missing-property"]


def _validate_in_fresh_process(repo: Path, cache: str) -> list[str]:
    code = ("import sys; sys.argv = ['flows', 'validate', 'one.yml']\n"
            "from runner.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit as done:\n"
            "    print(done.code, 'jsonschema' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                         env={**os.environ, "GITFLOWS_CACHE_DIR": cache}, check=True)
    return out.stdout.split()


def test_a_fresh_validate_of_a_known_flow_skips_jsonschema(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("id: one\nnamespace: team\ntasks:\n  - id: hi\n"
                                      "    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
    cache = str(tmp_path / "cache")
    assert _validate_in_fresh_process(tmp_path, cache) == ["0", "True"]
    assert _validate_in_fresh_process(tmp_path, cache) == ["0", "False"]
    assert _validate_in_fresh_process(tmp_path, "off") == ["0", "True"]


def test_a_long_lived_process_keeps_a_bounded_set(tmp_path: Path) -> None:
    passes = Passes(tmp_path / "passes")
    for i in range(MAX_KEYS + 1):
        passes.add(f"{i:064x}")
    assert f"{MAX_KEYS:064x}" in passes  # the newest is kept, read back from the trimmed file
    assert len(passes._load()) <= MAX_KEYS // 2 + 2
