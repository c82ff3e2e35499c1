"""The Docker executor through real containers: reuse, limits, isolation, files, cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Collect, LogLine
from runner.executors import Executors, LocalExecutor
from runner.executors.docker import DockerExecutor
from runner.language.parse import parse_flow
from tests.conftest import BUSYBOX_IMAGE, FLOWS
from tests.waiting import CEILING

pytestmark = pytest.mark.docker
SHELL = "io.kestra.plugin.scripts.shell.Commands"


class Run:
    def __init__(self, docker_executor: DockerExecutor, tmp_path: Path, **flags: Any) -> None:
        self.events = Collect()
        self.engine = Engine(Executors(LocalExecutor(), docker_executor, **flags), self.events,
                             work_root=tmp_path, data_dir=tmp_path / "data")

    def __call__(self, text: str) -> Execution:
        flow, diagnostics = parse_flow(text, "flow.yml")
        assert flow is not None, [d.format() for d in diagnostics]
        return self.engine.run(flow)

    def logs(self, task_id: str) -> list[str]:
        return [e.message for e in self.events.events
                if isinstance(e, LogLine) and e.task_id == task_id]


def outputs(execution: Execution, task_id: str) -> dict[str, Any]:
    return next(tr.outputs for tr in execution.task_runs if tr.task_id == task_id)


# `out NAME VALUE` sets an output through the `::{"outputs":…}::` protocol
OUT = r"""out() { printf '::{"outputs":{"%s":"%s"}}::\n' "$1" "$2"; }"""


def step(task_id: str, *commands: str, extra: str = "", indent: int = 2) -> str:
    """One busybox shell step as YAML; commands are single-quoted YAML scalars."""
    pad = " " * indent
    quoted = [c.replace("'", "''") for c in commands]
    lines = "".join(f"\n{pad}    - '{c}'" for c in quoted)
    extra = "".join(f"{pad}{line}\n" for line in extra.splitlines())
    return (f"{pad}- id: {task_id}\n{pad}  type: {SHELL}\n{pad}  containerImage: {BUSYBOX_IMAGE}\n"
            f"{pad}  beforeCommands:\n{pad}    - '{OUT.replace(chr(39), chr(39) * 2)}'\n"
            f"{extra}{pad}  commands:{lines}\n")


def flow(*steps: str) -> str:
    return "id: docker_flow\nnamespace: tests.docker\ntasks:\n" + "".join(steps)


DOCKER_RUNNER = "  taskRunner:\n    type: io.kestra.plugin.scripts.runner.docker.Docker\n"


def leftovers(execution_id: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.gitflows.execution={execution_id}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.fixture
def run(docker_executor: DockerExecutor, tmp_path: Path) -> Run:
    return Run(docker_executor, tmp_path)


def test_steps_of_a_run_share_one_container_unless_they_opt_out(run: Run) -> None:
    execution = run(flow(
        step("one", 'out host "$(hostname)"'),
        step("two", 'out host "$(hostname)"'),
        step("alone", 'out host "$(hostname)"', extra=DOCKER_RUNNER + "    reuseContainer: false\n"),
    ))
    assert str(execution.state.current) == "SUCCESS", run.logs("one")
    one, two, alone = (outputs(execution, t)["host"] for t in ("one", "two", "alone"))
    assert one == two, "consecutive steps with one image should share a container"
    assert alone != one
    assert leftovers(execution.id) == []


def test_files_pass_between_steps_of_a_working_directory(run: Run) -> None:
    text = ("id: wd\nnamespace: tests.docker\ntasks:\n  - id: shared\n"
            "    type: io.kestra.plugin.core.flow.WorkingDirectory\n    tasks:\n"
            + step("write", "echo from-container > data.txt", indent=6)
            + step("read", 'out data "$(cat data.txt)"', indent=6))
    execution = run(text)
    assert str(execution.state.current) == "SUCCESS", run.logs("read")
    assert outputs(execution, "read")["data"] == "from-container"


def test_resource_limits_reach_the_container(run: Run) -> None:
    limits = DOCKER_RUNNER + "    memory:\n      memory: 64MB\n    cpu:\n      cpus: 0.5\n"
    execution = run(flow(step(
        "limits",
        'out mem "$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
        'out cpu "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"',
        'out pids "$(cat /sys/fs/cgroup/pids/pids.max)"',
        extra=limits)))
    assert str(execution.state.current) == "SUCCESS", run.logs("limits")
    got = outputs(execution, "limits")
    assert got["mem"] == str(64 * 1024 * 1024)
    assert got["cpu"] == "50000"
    assert got["pids"] == "4096"


def test_untrusted_runs_get_no_network(docker_executor: DockerExecutor, tmp_path: Path) -> None:
    text = flow(step("net", 'out ifs "$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" ",")"'))
    untrusted = Run(docker_executor, tmp_path / "u", untrusted=True)
    execution = untrusted(text)
    assert str(execution.state.current) == "SUCCESS", untrusted.logs("net")
    assert outputs(execution, "net")["ifs"].strip(",") == "lo"
    trusted = Run(docker_executor, tmp_path / "t")
    assert "eth0" in outputs(trusted(text), "net")["ifs"]


def test_user_and_env(run: Run) -> None:
    extra = "  env:\n    GREETING: hello\n" + DOCKER_RUNNER + '    user: "1234"\n'
    execution = run(flow(step("who", 'out uid "$(id -u)"', 'out greeting "$GREETING"', extra=extra)))
    assert str(execution.state.current) == "SUCCESS", run.logs("who")
    assert outputs(execution, "who")["uid"] == "1234"
    assert outputs(execution, "who")["greeting"] == "hello"


def test_output_files_are_kept_as_artifacts(run: Run) -> None:
    extra = '  outputFiles:\n    - "*.txt"\n    - out/**\n'
    execution = run(flow(step("make", "echo one > a.txt", "mkdir -p out/sub",
                              "echo two > out/sub/b.csv", "echo skip > c.log", extra=extra)))
    assert str(execution.state.current) == "SUCCESS", run.logs("make")
    files = outputs(execution, "make")["outputFiles"]
    assert sorted(files) == ["a.txt", "out/sub/b.csv"]
    assert Path(files["a.txt"]).read_text() == "one\n"
    assert Path(files["out/sub/b.csv"]).read_text() == "two\n"


def test_missing_image_gives_a_clear_error(run: Run) -> None:
    text = flow(step("x", "true", extra=DOCKER_RUNNER + "    pullPolicy: NEVER\n"))
    text = text.replace(BUSYBOX_IMAGE, "gitflows-test/absent:0")
    execution = run(text)
    assert str(execution.state.current) == "FAILED"
    assert any("gitflows-test/absent:0" in line and "NEVER" in line for line in run.logs("x"))
    run(text.replace("pullPolicy: NEVER", "pullPolicy: IF_NOT_PRESENT"))
    assert any("cannot be pulled" in line and "docker load" in line for line in run.logs("x"))


def test_volumes_need_the_server_to_allow_them(docker_executor: DockerExecutor,
                                               tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello.txt").write_text("from host")
    extra = DOCKER_RUNNER + f"    volumes:\n      - {shared}:/mnt/shared\n"
    text = flow(step("vol", 'out v "$(cat /mnt/shared/hello.txt)"',
                     "touch /mnt/shared/new 2>/dev/null && echo writable || echo read-only",
                     extra=extra))
    denied = Run(docker_executor, tmp_path / "a")
    assert str(denied(text).state.current) == "FAILED"
    assert any("not allowed" in line for line in denied.logs("vol"))
    allowed = Run(docker_executor, tmp_path / "b", allow_volumes=True)
    execution = allowed(text)
    assert outputs(execution, "vol")["v"] == "from host"
    assert "read-only" in allowed.logs("vol")


def test_kill_during_a_step_removes_its_container(run: Run) -> None:
    import threading

    box: list[Execution] = []
    thread = threading.Thread(target=lambda: box.append(run(flow(step("long", "sleep 60")))))
    thread.start()
    deadline = time.monotonic() + CEILING
    while not run.engine.active() or not leftovers(run.engine.active()[0]):
        assert time.monotonic() < deadline, "the step's container should be running"
        time.sleep(0.05)
    execution_id = run.engine.active()[0]
    run.engine.kill(execution_id)
    thread.join(CEILING)
    assert str(box[0].state.current) == "KILLED"
    assert leftovers(execution_id) == []


def test_sigkill_of_the_runner_leaves_nothing_after_restart(
        docker_executor: DockerExecutor, write_flow: Callable[..., Path]) -> None:
    path = write_flow(flow(step("long", "echo started", "sleep 120")))
    proc = subprocess.Popen([*FLOWS, "run", str(path), "--executor", "docker"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + CEILING
    for line in proc.stdout:
        if "started" in line:
            break
        assert time.monotonic() < deadline
    listed = subprocess.run(["docker", "ps", "--format", '{{.ID}} {{.Label "io.gitflows.owner"}}'],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    # only this runner's containers: other test workers may be running steps too
    owned = [line.split()[0] for line in listed if f":{proc.pid}:" in line]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    alive = [c for c in owned
             if subprocess.run(["docker", "inspect", c], capture_output=True).returncode == 0]
    assert alive, "the container outlives a SIGKILLed runner until the next start-up"
    DockerExecutor.connect()  # what every runner does when it starts
    for container in alive:
        assert subprocess.run(["docker", "inspect", container], capture_output=True).returncode != 0


def test_docker_socket_needs_its_own_permission(docker_executor: DockerExecutor,
                                                tmp_path: Path) -> None:
    extra = DOCKER_RUNNER + "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"
    allowed_volumes = Run(docker_executor, tmp_path, allow_volumes=True)
    execution = allowed_volumes(flow(step("sock", "true", extra=extra)))
    assert str(execution.state.current) == "FAILED"
    assert any("allow_docker_socket" in line for line in allowed_volumes.logs("sock"))


def test_network_mode_entrypoint_and_shm_size(run: Run) -> None:
    options = DOCKER_RUNNER + "    networkMode: none\n    shmSize: 32MB\n"
    execution = run(flow(step(
        "opts",
        'out ifs "$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" ",")"',
        'out shm "$(df -k /dev/shm | tail -n 1 | tr -s " " | cut -d " " -f 2)"',
        extra=options)))
    assert str(execution.state.current) == "SUCCESS", run.logs("opts")
    assert outputs(execution, "opts")["ifs"].strip(",") == "lo"
    assert outputs(execution, "opts")["shm"] == str(32 * 1024)
    entry = (DOCKER_RUNNER
             + '    entryPoint: ["/bin/sh", "-c", "echo via-entrypoint; exec \\"$0\\" \\"$@\\""]\n')
    execution = run(flow(step("entry", "echo step-ran", extra=entry)))
    assert str(execution.state.current) == "SUCCESS", run.logs("entry")
    logs = run.logs("entry")
    assert "via-entrypoint" in logs and "step-ran" in logs
    assert logs.index("via-entrypoint") < logs.index("step-ran")


def test_the_checkout_is_readable_but_not_writable_in_containers(
        docker_executor: DockerExecutor, tmp_path: Path) -> None:
    from runner.git.files import CheckoutFiles

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "README.txt").write_text("from the repository")
    reader = Run(docker_executor, tmp_path / "r")
    reader.engine.namespace_files = CheckoutFiles(checkout)
    execution = reader(flow(step(
        "look", 'out text "$(cat "$GITFLOWS_CHECKOUT/README.txt")"',
        'touch "$GITFLOWS_CHECKOUT/new" 2>/dev/null && echo writable || echo read-only')))
    assert str(execution.state.current) == "SUCCESS", reader.logs("look")
    assert outputs(execution, "look")["text"] == "from the repository"
    assert "read-only" in reader.logs("look")
    assert not (checkout / "new").exists()
