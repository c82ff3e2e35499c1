"""`cache` on script tasks with real runs: the process executor and Docker (a miss, then a hit
that restores the directory), restore keys after the key's files change, a fork pull
request's run that restores but never saves (cache poisoning), and two engines with their own
data dirs sharing entries through an S3-compatible server (moto on 127.0.0.1)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import Collect, LogLine, State
from runner.executors import Executors, LocalExecutor
from runner.executors.docker import DockerExecutor
from runner.git.files import CheckoutFiles
from runner.language.parse import parse_flow
from runner.ports.cache import Limits
from runner.tasks.cache_store import LocalStore, choose
from runner.tasks.hash_files import hash_files
from tests.conftest import BUSYBOX_IMAGE, Server, run_cli
from tests.integration.test_plugin_s3 import KEY_ID, SECRET, moto_endpoint  # noqa: F401
from tests.integration.test_serve import call
from tests.waiting import CEILING

PROCESS = "taskRunner: {type: io.kestra.plugin.core.runner.Process}"
DOCKER = (f"taskRunner: {{type: io.kestra.plugin.scripts.runner.docker.Docker}}\n"
          f"    containerImage: {BUSYBOX_IMAGE}")
# the step builds venv/ only when the cache did not bring it, and says what it found
FLOW = """
id: cached
namespace: tests.cache
tasks:
  - id: deps
    type: io.kestra.plugin.scripts.shell.Commands
    {runner}
    cache:
      key: "{prefix}-{{{{ hashFiles('requirements*.txt') }}}}"
      restoreKeys: ["{prefix}-"]
      paths: [venv]
    commands:
      - |
        if [ -f venv/marker ]; then
          found=$(cat venv/marker) link=$(readlink venv/lib/link)
          echo "::{{\\"outputs\\":{{\\"found\\":\\"$found\\",\\"link\\":\\"$link\\"}}}}::"
        else
          mkdir -p venv/lib && echo {{{{ execution.id }}}} > venv/marker
          ln -s marker venv/lib/link
          {extra}
        fi
"""


class Repo:
    """A checkout, and engines over it sharing a data dir (or a store from environ)."""

    def __init__(self, tmp_path: Path, executors: Executors,
                 environ: dict[str, str] | None = None) -> None:
        self.checkout = tmp_path / "repo"
        self.checkout.mkdir(parents=True, exist_ok=True)
        (self.checkout / "requirements.txt").write_text("requests==2\n")
        self.executors = executors
        self.environ = environ or {}
        self.data_dir = tmp_path / "data"
        self.work = tmp_path / "work"
        self.events = Collect()

    def run(self, runner: str, prefix: str = "deps", extra: str = "",
            executors: Executors | None = None) -> Execution:
        text = FLOW.format(runner=runner, prefix=prefix, extra=extra)
        flow, diagnostics = parse_flow(text, "flow.yml")
        assert flow is not None, [d.format() for d in diagnostics]
        engine = Engine(executors or self.executors, self.events, work_root=self.work,
                        data_dir=self.data_dir, namespace_files=CheckoutFiles(self.checkout),
                        environ=self.environ)
        execution = engine.run(flow)
        assert execution.state.current in (State.SUCCESS, State.WARNING), self.logs()
        return execution

    def logs(self) -> list[str]:
        return [e.message for e in self.events.events if isinstance(e, LogLine)]


def cache_of(execution: Execution) -> dict[str, Any]:
    return dict(execution.task_outputs["deps"]["cache"])


def found(execution: Execution) -> str | None:
    value = execution.task_outputs["deps"].get("found")
    return str(value) if value is not None else None


def miss_then_hit(repo: Repo, runner: str) -> None:
    first = repo.run(runner)
    assert cache_of(first)["hit"] == "miss" and cache_of(first)["saved"] is True
    assert cache_of(first)["savedBytes"] > 0
    assert found(first) is None
    second = repo.run(runner)
    info = cache_of(second)
    assert info["hit"] == "exact" and info["saved"] is False
    assert info["restoredKey"] == cache_of(first)["key"]
    assert found(second) == first.id  # the directory the first run built, restored
    assert any(line.startswith("cache hit: deps-") for line in repo.logs())
    assert any(line.startswith("cache miss: deps-") for line in repo.logs())


def test_process_steps_miss_then_hit_then_restore_key(tmp_path: Path) -> None:
    repo = Repo(tmp_path, Executors(LocalExecutor()))
    miss_then_hit(repo, PROCESS)
    assert repo.run(PROCESS).task_outputs["deps"]["link"] == "marker"  # links stay links
    # a changed requirements file: a new key, restored from the newest "deps-" entry, saved
    (repo.checkout / "requirements.txt").write_text("requests==3\n")
    third = repo.run(PROCESS)
    info = cache_of(third)
    assert info["hit"] == "restore-key" and info["saved"] is True and found(third)
    assert repo.run(PROCESS).task_outputs["deps"]["cache"]["hit"] == "exact"


def test_home_paths_of_host_steps(tmp_path: Path) -> None:
    home = tmp_path / "home"
    text = f"""
id: home
namespace: tests.cache
tasks:
  - id: deps
    type: io.kestra.plugin.scripts.shell.Commands
    {PROCESS}
    env: {{HOME: "{home}"}}
    cache: {{key: pip-cache, paths: ["~/.cache/pip"]}}
    commands:
      - '[ -f ~/.cache/pip/wheel ] && echo "::{{\\"outputs\\":{{\\"found\\":\\"yes\\"}}}}::" || true'
      - mkdir -p ~/.cache/pip && echo wheel > ~/.cache/pip/wheel
"""
    flow, diagnostics = parse_flow(text, "flow.yml")
    assert flow is not None, [d.format() for d in diagnostics]
    engine = Engine(Executors(LocalExecutor()), Collect(), work_root=tmp_path / "work",
                    data_dir=tmp_path / "data")
    assert engine.run(flow).task_outputs["deps"].get("found") is None
    shutil.rmtree(home)
    second = engine.run(flow)
    assert second.task_outputs["deps"]["found"] == "yes"
    assert (home / ".cache" / "pip" / "wheel").read_text() == "wheel\n"


def test_a_failed_step_saves_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path, Executors(LocalExecutor()))
    text = FLOW.format(runner=PROCESS, prefix="deps", extra="exit 3")
    flow, _ = parse_flow(text, "flow.yml")
    assert flow is not None
    engine = Engine(repo.executors, repo.events, work_root=repo.work, data_dir=repo.data_dir,
                    namespace_files=CheckoutFiles(repo.checkout))
    assert engine.run(flow).state.current == State.FAILED
    assert repo.run(PROCESS).task_outputs["deps"]["cache"]["hit"] == "miss"


def test_a_hostile_entry_writes_nothing_outside_the_working_dir(tmp_path: Path) -> None:
    """An entry whose tar plants venv -> <outside> and then writes venv/marker through it:
    the restore stops at the write, removes the link, and the step runs on a miss."""
    repo = Repo(tmp_path, Executors(LocalExecutor()))
    outside = tmp_path / "outside"
    outside.mkdir()
    crafted = tmp_path / "crafted.tar"
    with tarfile.open(crafted, "w") as archive:
        link = tarfile.TarInfo("work/venv")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        archive.addfile(link)
        data = b"poisoned"
        member = tarfile.TarInfo("work/venv/marker")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    key = "deps-" + hash_files(repo.checkout, ["requirements*.txt"])
    LocalStore(repo.data_dir / "cache").put(key, crafted, sha256(crafted.read_bytes()).hexdigest())
    execution = repo.run(PROCESS)
    assert cache_of(execution)["hit"] == "miss" and found(execution) is None
    assert list(outside.iterdir()) == []
    assert any(line.startswith("cache restore failed") for line in repo.logs())


@pytest.mark.docker
def test_container_steps_miss_then_hit(docker_executor: DockerExecutor, tmp_path: Path) -> None:
    miss_then_hit(Repo(tmp_path, Executors(LocalExecutor(), docker_executor)), DOCKER)


@pytest.mark.docker
def test_a_fork_pull_request_restores_but_never_saves(docker_executor: DockerExecutor,
                                                      tmp_path: Path) -> None:
    trusted = Executors(LocalExecutor(), docker_executor)
    fork = Executors(LocalExecutor(), docker_executor, untrusted=True)
    repo = Repo(tmp_path, trusted)
    saved = repo.run(DOCKER)
    assert found(repo.run(DOCKER, executors=fork)) == saved.id  # it may restore
    # the attack: the fork writes its own entry under a key trusted runs will restore
    poisoned = repo.run(DOCKER, prefix="poison", extra="echo evil > venv/evil", executors=fork)
    assert cache_of(poisoned)["saved"] is False and cache_of(poisoned)["skipped"] == "untrusted"
    assert any("never saves" in line for line in repo.logs())
    after = repo.run(DOCKER, prefix="poison")
    assert cache_of(after)["hit"] == "miss" and found(after) is None


def s3_settings(endpoint: str) -> dict[str, str]:
    import boto3

    bucket = f"gf-cache-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET).create_bucket(Bucket=bucket)
    return {"FLOWS_CACHE_URL": f"s3://{bucket}/steps", "FLOWS_CACHE_S3_ENDPOINT": endpoint,
            "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}


def test_two_engines_share_the_s3_store(moto_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    environ = s3_settings(moto_endpoint)
    first = Repo(tmp_path / "a", Executors(LocalExecutor()), environ)
    second = Repo(tmp_path / "b", Executors(LocalExecutor()), environ)  # another data dir
    saved = first.run(PROCESS)
    assert cache_of(saved)["store"] == "s3" and cache_of(saved)["saved"] is True
    hit = second.run(PROCESS)
    assert cache_of(hit)["hit"] == "exact" and found(hit) == saved.id
    assert not (tmp_path / "b" / "data" / "cache" / "blobs").exists()  # nothing local


def test_two_flows_processes_share_the_s3_store(moto_endpoint: str,  # noqa: F811
                                                tmp_path: Path) -> None:
    """Two `flows run` processes, each with its own data dir, configured by environment only."""
    settings = s3_settings(moto_endpoint)
    repo = Repo(tmp_path, Executors(LocalExecutor()))
    flow = repo.checkout / ".flows" / "cached.yml"
    flow.parent.mkdir()
    flow.write_text(FLOW.format(runner=PROCESS, prefix="deps", extra=""))
    runs = []
    for name in ("one", "two"):
        result = run_cli("run", str(flow), "--executor", "process", "--json", cwd=repo.checkout,
                         env={**settings, "GITFLOWS_DATA": str(tmp_path / name)})
        assert result.returncode == 0, result.stderr
        execution = json.loads(result.stdout)
        runs.append((execution["id"], next(t for t in execution["taskRunList"]
                                           if t["taskId"] == "deps")["outputs"]))
    (first_id, first), (_, second) = runs
    assert first["cache"]["hit"] == "miss" and first["cache"]["saved"] is True
    assert second["cache"] == {**second["cache"], "hit": "exact", "store": "s3"}
    assert second["found"] == first_id


def test_s3_store_matching_and_eviction(moto_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    from runner.plugins.cache_s3 import S3Store

    settings = s3_settings(moto_endpoint)
    store = S3Store(settings["FLOWS_CACHE_URL"], settings, tmp_path, "repo-a",
                    Limits(max_bytes=250, max_age=3600))
    for key, content in (("pip-1", b"x" * 100), ("pip-1-copy", b"x" * 100), ("pip-2", b"y" * 100),
                         ("pip-3", b"z" * 100)):
        tar = tmp_path / "entry.tar"
        tar.write_bytes(content)
        store.put(key, tar, sha256(content).hexdigest())
    other = S3Store(settings["FLOWS_CACHE_URL"], settings, tmp_path, "repo-b")
    assert other.exact("pip-3") is None and other.with_prefix("pip-") == []
    entry, exact = choose(store, "pip-4", ["pip-"])
    assert entry is not None and entry.key == "pip-3" and not exact
    assert store.evict(time.time() + 120) == 2  # the oldest two, sharing one blob
    assert sorted(e.key for e in store.with_prefix("pip-")) == ["pip-2", "pip-3"]
    assert store.fetch(entry, tmp_path / "out.tar") and (tmp_path / "out.tar").read_bytes() == b"z" * 100
    blobs = store.client.list_objects_v2(Bucket=store.bucket, Prefix="steps/blobs/")["Contents"]
    assert len(blobs) == 2  # the orphan blob went with its keys
    assert store.evict(time.time() + 7200) == 2 and store.with_prefix("pip-") == []


def test_a_server_shows_hits_in_the_execution_and_metrics(tmp_path: Path) -> None:
    """A real `flows serve`: the run's commit is what hashFiles reads; the second run's task
    run says it was an exact hit (the execution page shows outputs), /metrics counts both."""
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "cached.yml").write_text(FLOW.format(runner=PROCESS, prefix="deps", extra=""))
    (repo / "requirements.txt").write_text("requests==2\n")
    for args in (("init", "-q", "-b", "main"), ("add", "."),
                 ("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "i")):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process"], cwd=repo,
                    log=tmp_path / "serve.log")
    try:
        outputs = []
        key = "deps-" + hash_files(repo, ["requirements*.txt"])
        for _ in range(2):
            # an uncommitted edit is not what the run sees: hashFiles reads the run's commit
            (repo / "requirements.txt").write_text(f"dirty {len(outputs)}\n")
            status, execution = call(server.base, "POST",
                                     "/api/v1/executions/tests.cache/cached?wait=true", body={})
            assert status == 200 and execution["state"]["current"] == "SUCCESS", execution
            outputs.append(next(t["outputs"] for t in execution["taskRunList"]
                                if t["taskId"] == "deps"))
        assert outputs[0]["cache"]["hit"] == "miss" and outputs[1]["cache"]["hit"] == "exact"
        assert outputs[0]["cache"]["key"] == outputs[1]["cache"]["key"] == key
        with urllib.request.urlopen(server.base + "/metrics", timeout=CEILING) as response:
            metrics = response.read().decode()
        assert 'gitflows_step_cache_lookups{result="exact"} 1.0' in metrics
        assert 'gitflows_step_cache_lookups{result="miss"} 1.0' in metrics
        saved = outputs[0]["cache"]["savedBytes"]
        assert f'gitflows_step_cache_bytes{{direction="saved"}} {float(saved)}' in metrics
    finally:
        server.stop()
