"""Hostile YAML through the real `flows` commands: an alias bomb, a deep or a huge file is
an error at file:line:col within seconds (the subprocess timeout guards a regression:
before the limits, the bomb below took minutes and gigabytes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_cli
from tests.unit.test_yaml_limits import bomb

GUARD = 60  # seconds; a regression is killed here instead of hanging the suite

BOMB = ("bomb.yml:7:10: error alias-expansion: aliases expand to more than 10,000 nodes by "
        "here (*a3 stands for 7,381)")


def test_validate_refuses_an_alias_bomb_at_the_alias(tmp_path: Path) -> None:
    (tmp_path / "bomb.yml").write_text(bomb(levels=12, fan=12))
    (tmp_path / "deep.yml").write_text("id: x\nnamespace: demo\nv: " + "[" * 100 + "]" * 100)
    result = run_cli("validate", "bomb.yml", "deep.yml", cwd=tmp_path, timeout=GUARD)
    assert result.returncode == 1
    found = result.stdout + result.stderr
    assert ("bomb.yml:6:30: error alias-expansion: aliases expand to more than 10,000 nodes by "
            "here (*a2 stands for 1,885)") in found
    assert "deep.yml:3:67: error nesting-too-deep: the YAML nests deeper than 64 levels" in found


def test_validate_refuses_a_huge_file_at_the_line_crossing_the_limit(tmp_path: Path) -> None:
    (tmp_path / "huge.yml").write_text("id: huge\nnamespace: demo\n" + "# padding\n" * 5_000_000)
    result = run_cli("validate", "huge.yml", cwd=tmp_path, timeout=GUARD)
    assert result.returncode == 1
    assert ("huge.yml:104858:2: error file-too-large: the file is 50,000,025 bytes, over the "
            "1,048,576 a YAML file may hold") in result.stdout + result.stderr


def test_run_and_ci_refuse_the_bomb_too(tmp_path: Path) -> None:
    flows = tmp_path / ".flows"
    flows.mkdir()
    (flows / "bomb.yml").write_text(bomb())
    run = run_cli("run", ".flows/bomb.yml", cwd=tmp_path, timeout=GUARD)
    assert run.returncode != 0 and f".flows/{BOMB}" in run.stderr
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "bomb"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *command],
                       cwd=tmp_path, check=True)
    ci = run_cli("ci", "--event", "manual", "--repo", str(tmp_path), "--executor", "process",
                 cwd=tmp_path, timeout=GUARD)
    assert f".flows/{BOMB}" in ci.stderr, ci.stderr  # relative to the repository, as CI shows it
    assert ci.returncode != 0
