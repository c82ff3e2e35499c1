"""Plugins through the installed `flows` CLI: a fake distribution (module + *.dist-info with
entry_points.txt) on PYTHONPATH stands in for `pip install gitflows-plugin-hello`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_cli

EXAMPLE = REPO_ROOT / "examples" / "gitflows-plugin-hello" / "gitflows_plugin_hello.py"

FLOW = """
id: greet
namespace: company.team
tasks:
  - id: hello
    type: io.example.hello.Greet
    name: "{{ flow.namespace }}"
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.hello.greeting }}"
"""


def _distribution(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[gitflows.plugins]\n{entry_points}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory holding the hello plugin and a plugin that raises on import."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(EXAMPLE, site / EXAMPLE.name)
    _distribution(site, "gitflows-plugin-hello", "hello = gitflows_plugin_hello:TYPES")
    (site / "gitflows_plugin_broken.py").write_text("raise RuntimeError('cannot start')\n")
    _distribution(site, "gitflows-plugin-broken", "broken = gitflows_plugin_broken:TYPES")
    return site


def _env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_plugins_lists_plugin_types_with_provider_and_problems(site: Path) -> None:
    result = run_cli("plugins", "--json", env=_env(site))
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    by_name = {t["name"]: t for t in listing["types"]}
    assert by_name["io.example.hello.Greet"] == {
        "name": "io.example.hello.Greet", "kind": "task", "title": "Greet someone; outputs greeting",
        "provider": "gitflows-plugin-hello"}
    assert by_name["io.kestra.plugin.core.log.Log"]["provider"] == "built-in"
    [problem] = listing["problems"]
    assert problem["plugin"] == "broken" and problem["provider"] == "gitflows-plugin-broken"
    assert "RuntimeError: cannot start" in problem["message"]

    text = run_cli("plugins", env=_env(site))
    assert text.returncode == 0
    assert "gitflows-plugin-hello" in text.stdout
    assert "plugin 'broken' (gitflows-plugin-broken): failed to load" in text.stderr


def test_schema_validate_and_run_know_the_plugin_type(site: Path,
                                                      write_flow: Callable[..., Path]) -> None:
    schema = json.loads(run_cli("schema", env=_env(site)).stdout)
    assert "io.example.hello.Greet" in json.dumps(schema)

    flow = write_flow(FLOW)
    checked = run_cli("validate", str(flow), env=_env(site))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    ran = run_cli("run", str(flow), "--executor", "process", "--json", env=_env(site))
    assert ran.returncode == 0, ran.stderr
    execution = json.loads(ran.stdout)
    assert execution["state"]["current"] == "SUCCESS"
    hello = next(tr for tr in execution["taskRunList"] if tr["taskId"] == "hello")
    assert hello["outputs"] == {"greeting": "Hello, company.team!"}


def test_without_the_plugin_the_type_is_unknown_and_builtins_work(
        tmp_path: Path, write_flow: Callable[..., Path]) -> None:
    only_broken = tmp_path / "broken-site"
    only_broken.mkdir()
    (only_broken / "gitflows_plugin_broken.py").write_text("raise ImportError('nope')\n")
    _distribution(only_broken, "gitflows-plugin-broken", "broken = gitflows_plugin_broken:TYPES")
    flow = write_flow(FLOW)
    checked = run_cli("validate", str(flow), env=_env(only_broken))
    assert checked.returncode == 1
    assert "unknown task type 'io.example.hello.Greet'" in checked.stdout + checked.stderr
    log_only = write_flow("id: ok\nnamespace: company.team\ntasks:\n  - id: a\n"
                          "    type: io.kestra.plugin.core.log.Log\n    message: hi\n", "ok.yml")
    ran = run_cli("run", str(log_only), "--executor", "process", env=_env(only_broken))
    assert ran.returncode == 0, ran.stderr


def test_validate_names_the_missing_extra(write_flow: Callable[..., Path], tmp_path: Path) -> None:
    """Without the s3 extra's client library (hidden here by a package that fails to
    import, as an absent one does), the s3 types are unknown and the message says how to
    install them."""
    hidden = tmp_path / "hidden" / "boto3"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'boto3'\", "
                                        "name='boto3')\n")
    flow = write_flow("id: q\nnamespace: company.team\ntasks:\n  - id: a\n"
                      "    type: io.kestra.plugin.aws.s3.Upload\n")
    env = {"PYTHONPATH": os.pathsep.join([str(hidden.parent), os.environ.get("PYTHONPATH", "")])}
    listed = run_cli("plugins", env=env)
    assert "not installed: the s3 plugin (pip install 'gitflows[s3]')" in listed.stdout
    checked = run_cli("validate", str(flow), env=env)
    assert checked.returncode == 1
    assert ("io.kestra.plugin.aws.s3.Upload needs the s3 plugin: pip install 'gitflows[s3]'"
            in checked.stdout + checked.stderr)
