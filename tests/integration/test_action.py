"""The GitHub Action (action.yml): valid against the published schema of action metadata
(check-jsonschema's vendored `github-actions` schema), injection-safe (no `${{ }}` inside a
script), and its scripts work: the run step turns the action's inputs into `flows ci`
arguments in a simulated Actions job, the fetch step brings the history into a fresh clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import FLOWS, REPO_ROOT
from tests.integration.test_ci import Job, job, notes  # noqa: F401 (fixture)
from tests.integration.test_hooks import commit, git
from tests.unit.test_providers_github import octokit_examples  # noqa: F401 (fixture)

ACTION = REPO_ROOT / "action.yml"
CHECK = Path(sys.executable).parent / "check-jsonschema"
GREET = """\
id: greet
namespace: demo
inputs:
  - id: who
    type: STRING
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.who }}"
"""


def load(path: Path = ACTION) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK), "--builtin-schema", "vendor.github-actions", str(path)],
                          capture_output=True, text=True, timeout=60)


def step(action: dict[str, Any], ident: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in action["runs"]["steps"] if s.get("id") == ident)
    return found


def test_action_yml_is_valid_github_action_metadata(tmp_path: Path) -> None:
    done = check_schema(ACTION)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = ACTION.read_text(encoding="utf-8").replace("      shell: bash\n", "", 1)
    (tmp_path / "action.yml").write_text(broken.replace("\ndescription:", "\nsummary:", 1))
    done = check_schema(tmp_path / "action.yml")
    assert done.returncode == 1, "the schema check must fail on an invalid action.yml"


def test_action_inputs_outputs_and_steps() -> None:
    action = load()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert set(inputs) == {"flows-path", "flow", "inputs", "executor", "token", "push-history",
                           "python-version", "pass-env"}
    assert inputs["token"]["default"] == "${{ github.token }}"
    assert (inputs["push-history"]["default"], inputs["python-version"]["default"]) == (
        "true", "3.11")
    assert {name: out["value"] for name, out in action["outputs"].items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}" for name in ("state", "run-ids",
                                                                 "failed-flows")}
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert steps[0]["with"]["python-version"] == "${{ inputs.python-version }}"
    install = step(action, "install")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert 'pip install' in install["run"] and '"$ACTION_PATH"' in install["run"]
    assert "requirements.lock" in install["run"]
    fetch = next(s for s in steps if "refs/notes/flows" in s.get("run", ""))
    assert "refs/flows/logs" in fetch["run"] and "|| true" in fetch["run"]
    for each in steps:  # inputs reach scripts through env, never pasted into them
        assert "${{" not in each.get("run", ""), each.get("name")


def run_step(action: dict[str, Any], env: dict[str, str], cwd: Path,
             **inputs: str) -> subprocess.CompletedProcess[str]:
    """Run the `run` step's script as the runner would, its env rendered from the inputs."""
    defaults = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    defaults["token"] = env["GITHUB_TOKEN"]  # what ${{ github.token }} becomes
    given = {**defaults, **{k.replace("_", "-"): v for k, v in inputs.items()}}
    declared = step(action, "run")["env"]
    step_env = {"FLOWS_BIN": FLOWS[0]}
    for name, expression in declared.items():
        if expression.startswith("${{ inputs."):
            step_env[name] = given[expression.removeprefix("${{ inputs.").removesuffix(" }}")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    return subprocess.run(["bash", "-eo", "pipefail", "-c", step(action, "run")["run"]], cwd=cwd,
                          env={**clean, **env, **step_env}, capture_output=True, text=True,
                          timeout=120)


def test_run_step_passes_the_inputs_to_flows_ci(job: Job) -> None:  # noqa: F811
    action = load()
    sha = commit(job.work, ".flows/greet.yml", GREET, "greet")
    env = job.env("workflow_dispatch", {"ref": "refs/heads/main"}, sha)
    done = run_step(action, env, job.work, flow="demo.greet,\n", inputs="who=Ada Lovelace\n\n",
                    executor="process", push_history="false")
    assert done.returncode == 0, done.stderr
    assert "Hello Ada Lovelace" in done.stderr
    assert job.outputs()["state"] == "SUCCESS"


def test_run_step_pushes_history_that_the_fetch_step_brings_back(job: Job) -> None:  # noqa: F811
    action = load()
    before = git(job.work, "rev-parse", "HEAD")
    sha = commit(job.work, "status.txt", "bad\n", "break")
    git(job.work, "push", "-q", "origin", "main")
    env = job.env("push", job.push_payload(before, sha, "break"), sha)
    done = run_step(action, env, job.work, executor="process")
    assert done.returncode == 1, done.stderr
    assert job.outputs()["failed-flows"] == "demo.build"
    assert job.api.invalid() == []
    clone = job.root / "clone"
    subprocess.run(["git", "clone", "-q", str(job.origin), str(clone)], check=True)
    assert notes(clone, sha) == []
    fetch = next(s for s in action["runs"]["steps"] if "refs/notes/flows" in s.get("run", ""))
    subprocess.run(["bash", "-e", "-c", fetch["run"]], cwd=clone, check=True, timeout=60)
    assert {e["flow"] for e in notes(clone, sha)} == {"demo.build", "demo.deploy"}
    assert git(clone, "rev-parse", "--verify", "refs/flows/logs")


ECHO_ENV = """\
id: echo
namespace: demo
tasks:
  - id: show
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - 'echo "deploy_host=${DEPLOY_HOST:-unset} token=${GITHUB_TOKEN:-unset}"'
"""


def test_steps_see_only_the_job_variables_named_in_pass_env(job: Job) -> None:  # noqa: F811
    action = load()
    sha = commit(job.work, ".flows/echo.yml", ECHO_ENV, "echo")
    env = {**job.env("workflow_dispatch", {"ref": "refs/heads/main"}, sha),
           "DEPLOY_HOST": "deploy.internal"}
    done = run_step(action, env, job.work, flow="demo.echo", executor="process",
                    push_history="false")
    assert done.returncode == 0, done.stderr
    assert "deploy_host=unset token=unset" in done.stderr
    done = run_step(action, env, job.work, flow="demo.echo", executor="process",
                    push_history="false", pass_env="DEPLOY_HOST,\n")
    assert done.returncode == 0, done.stderr
    assert "deploy_host=deploy.internal token=unset" in done.stderr
