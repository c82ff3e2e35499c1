"""`flows run` end to end: real processes, a real Docker engine, the installed CLI."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE, run_cli
from tests.waiting import CEILING

SHELL_FLOW = f"""
id: where
namespace: tests.integration
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "starting {{{{ flow.id }}}}"
  - id: probe
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: {BUSYBOX_IMAGE}
    commands:
      - echo "hostname=$(hostname)"
      - echo "os=$(head -n 1 /etc/os-release)"
      - 'echo "::{{\\"outputs\\":{{\\"host\\":\\"$(hostname)\\"}}}}::"'
"""


def _execution(stdout: str) -> dict:  # type: ignore[type-arg]
    return json.loads(stdout)


def _task(execution: dict, task_id: str) -> dict:  # type: ignore[type-arg]
    return next(tr for tr in execution["taskRunList"] if tr["taskId"] == task_id)


@pytest.mark.docker
def test_shell_step_runs_inside_a_container(docker_executor: object,
                                            write_flow: Callable[..., Path]) -> None:
    flow = write_flow(SHELL_FLOW)
    result = run_cli("run", str(flow), "--executor", "docker", "--json")
    assert result.returncode == 0, result.stderr
    execution = _execution(result.stdout)
    assert execution["state"]["current"] == "SUCCESS"
    inside = _task(execution, "probe")["outputs"]["host"]
    assert inside and inside != socket.gethostname()
    # logs stream with a timestamp and the task id; /etc/os-release is the image's, not the host's
    assert "probe" in result.stderr and 'os=NAME="gitflows busybox"' in result.stderr
    assert host_os_name() not in result.stderr.split("os=")[1].splitlines()[0]


def host_os_name() -> str:
    return Path("/etc/os-release").read_text().splitlines()[0]


def test_same_flow_runs_as_host_process(write_flow: Callable[..., Path]) -> None:
    flow = write_flow(SHELL_FLOW)
    result = run_cli("run", str(flow), "--executor", "process", "--json")
    assert result.returncode == 0, result.stderr
    execution = _execution(result.stdout)
    assert _task(execution, "probe")["outputs"]["host"] == socket.gethostname()
    assert f"os={host_os_name()}" in result.stderr


@pytest.mark.docker
def test_python_script_in_python_image(docker_executor: object,
                                       write_flow: Callable[..., Path]) -> None:
    flow = write_flow(f"""
        id: py
        namespace: tests.integration
        inputs:
          - id: n
            type: INT
            defaults: 3
        tasks:
          - id: square
            type: io.kestra.plugin.scripts.python.Script
            containerImage: {PYTHON_IMAGE}
            script: |
              import json, sys
              n = {{{{ inputs.n }}}}
              print("running on", sys.version.split()[0])
              print("::" + json.dumps({{"outputs": {{"square": n * n}}}}) + "::")
          - id: show
            type: io.kestra.plugin.core.debug.Return
            format: "square={{{{ outputs.square.square }}}}"
    """)
    result = run_cli("run", str(flow), "--executor", "docker", "--input", "n=7", "--json")
    assert result.returncode == 0, result.stderr
    execution = _execution(result.stdout)
    assert _task(execution, "show")["outputs"]["value"] == "square=49"
    assert "running on 3.11" in result.stderr


@pytest.mark.docker
def test_failing_step_fails_the_run_and_leaves_no_container(
        docker_executor: object, write_flow: Callable[..., Path]) -> None:
    flow = write_flow(f"""
        id: fails
        namespace: tests.integration
        tasks:
          - id: boom
            type: io.kestra.plugin.scripts.shell.Commands
            containerImage: {BUSYBOX_IMAGE}
            commands:
              - echo before
              - exit 3
              - echo never
          - id: after
            type: io.kestra.plugin.core.log.Log
            message: not reached
    """)
    result = run_cli("run", str(flow), "--executor", "docker", "--json")
    assert result.returncode == 1, result.stderr
    execution = _execution(result.stdout)
    assert execution["state"]["current"] == "FAILED"
    assert [tr["taskId"] for tr in execution["taskRunList"]] == ["boom"]
    assert "command exited with code 3" in result.stderr
    assert "never" not in result.stderr
    leftover = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.gitflows.execution={execution['id']}"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert leftover == ""


@pytest.mark.docker
def test_timeout_kills_the_container(docker_executor: object,
                                     write_flow: Callable[..., Path]) -> None:
    flow = write_flow(f"""
        id: slow
        namespace: tests.integration
        tasks:
          - id: sleepy
            type: io.kestra.plugin.scripts.shell.Commands
            containerImage: {BUSYBOX_IMAGE}
            timeout: PT1S
            commands:
              - sleep 600
    """)
    result = run_cli("run", str(flow), "--executor", "docker", "--json", timeout=CEILING)
    assert result.returncode == 1
    assert "timed out" in result.stderr
    execution = _execution(result.stdout)
    assert float(execution["state"]["duration"][2:-1]) < CEILING  # cut off, not the step's 600 s


def test_invalid_flow_exits_2_with_position(write_flow: Callable[..., Path]) -> None:
    flow = write_flow("""
        id: bad
        namespace: tests
        tasks:
          - id: one
            type: io.kestra.plugin.core.log.Log
            mesage: typo
    """)
    result = run_cli("run", str(flow))
    assert result.returncode == 2
    assert f"{flow}:6:5: error unknown-property: unknown property 'mesage'" in result.stderr
    assert "did you mean 'message'" in result.stderr


def test_validate_reports_yaml_syntax_error_with_position(write_flow: Callable[..., Path]) -> None:
    flow = write_flow("id: x\nnamespace: a\ntasks: [\n  {id: a\n")
    result = run_cli("validate", str(flow))
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{flow}:")
    line, col = first[len(str(flow)) + 1:].split(":")[:2]
    assert int(line) >= 4 and int(col) >= 1
    assert "error yaml-syntax" in first


def test_missing_required_input_is_a_usage_error(write_flow: Callable[..., Path]) -> None:
    flow = write_flow("""
        id: needs
        namespace: tests
        inputs:
          - id: who
            type: STRING
        tasks:
          - id: hi
            type: io.kestra.plugin.core.log.Log
            message: "hi {{ inputs.who }}"
    """)
    result = run_cli("run", str(flow), "--executor", "process")
    assert result.returncode == 2
    assert "missing required input 'who'" in result.stderr
    ok = run_cli("run", str(flow), "--executor", "process", "-i", "who=Ada")
    assert ok.returncode == 0 and "hi Ada" in ok.stderr
