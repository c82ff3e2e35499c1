"""The S3 family (io.kestra.plugin.aws.s3.*) against a real S3-compatible server: moto in
server mode, a stand-in for AWS S3 / MinIO started once per test session (per xdist worker).
Tasks run through `flows run`; the trigger through a real `flows serve`, killed with -9."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Server, _missing, free_port, run_cli
from tests.integration.test_hooks import commit, git
from tests.integration.test_trigger_files import settled
from tests.waiting import CEILING

SECRET = "s3-Secret-Value-7f3a"
KEY_ID = "AKIATESTGITFLOWS"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:<port> of a moto S3 server for this session."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=out)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + CEILING
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _missing("moto's S3 server", log.read_text())
            time.sleep(0.1)
    yield endpoint
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"gf-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def connection(endpoint: str, secret: bool = True) -> str:
    key = "\"{{ secret('S3_SECRET') }}\"" if secret else SECRET
    return (f"    endpointOverride: {endpoint}\n    region: us-east-1\n"
            f"    accessKeyId: {KEY_ID}\n    secretKeyId: {key}\n")


def env() -> dict[str, str]:
    return {"SECRET_S3_SECRET": base64.b64encode(SECRET.encode()).decode()}


def run_flow(write_flow: Callable[..., Path], text: str) -> dict[str, Any]:
    path = write_flow(text)
    result = run_cli("run", str(path), "--json", "--executor", "process", env=env())
    assert SECRET not in result.stdout + result.stderr
    assert result.returncode in (0, 1), result.stderr
    execution: dict[str, Any] = json.loads(result.stdout)
    execution["_stderr"] = result.stderr
    return execution


def outputs(execution: dict[str, Any], task_id: str) -> dict[str, Any]:
    runs = [t for t in execution["taskRunList"] if t["taskId"] == task_id]
    assert runs, execution
    found: dict[str, Any] = runs[0].get("outputs") or {}
    return found


def task(task_id: str, kind: str, endpoint: str, body: str) -> str:
    return (f"  - id: {task_id}\n    type: io.kestra.plugin.aws.s3.{kind}\n"
            + connection(endpoint) + body)


def test_upload_list_download_delete(write_flow: Callable[..., Path], tmp_path: Path,
                                     moto_endpoint: str, s3: Any, bucket: str) -> None:
    (tmp_path / "report.csv").write_text("name,amount\na,1\nb,2\n")
    flow = (
        "id: s3_tasks\nnamespace: demo\ntasks:\n"
        "  - id: make\n    type: io.kestra.plugin.scripts.shell.Commands\n"
        "    taskRunner:\n      type: io.kestra.plugin.core.runner.Process\n"
        "    outputFiles: [made.txt]\n    commands: [\"printf 'made by a task' > made.txt\"]\n"
        + task("up_ns", "Upload", moto_endpoint,
               f"    bucket: {bucket}\n    from: nsfile:///report.csv\n    key: in/report.csv\n"
               "    contentType: text/csv\n    metadata:\n      origin: test\n")
        + task("up_artifact", "Upload", moto_endpoint,
               f"    bucket: {bucket}\n    from: \"{{{{ outputs.make.outputFiles['made.txt'] }}}}\"\n"
               "    key: in/made.txt\n")
        + task("up_many", "Upload", moto_endpoint,
               f"    bucket: {bucket}\n    key: many\n    from:\n      - nsfile:///report.csv\n"
               "      - \"{{ outputs.make.outputFiles['made.txt'] }}\"\n")
        + task("list", "List", moto_endpoint,
               f"    bucket: {bucket}\n    prefix: in/\n    regexp: \".*\\\\.csv\"\n    filter: FILES\n")
        + task("down", "Download", moto_endpoint, f"    bucket: {bucket}\n    key: in/report.csv\n")
        + task("down_many", "Download", moto_endpoint, f"    bucket: {bucket}\n    prefix: many/\n")
        + task("delete", "Delete", moto_endpoint, f"    bucket: {bucket}\n    key: in/made.txt\n"))
    execution = run_flow(write_flow, flow)
    assert execution["state"]["current"] == "SUCCESS", execution["_stderr"]
    up = outputs(execution, "up_ns")
    assert up["bucket"] == bucket and up["key"] == "in/report.csv" and up["eTag"].strip('"')
    head = s3.head_object(Bucket=bucket, Key="in/report.csv")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"origin": "test"}
    assert outputs(execution, "up_many") == {"bucket": bucket}
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="many/")["Contents"]) \
        == ["many/made.txt", "many/report.csv"]
    listed = outputs(execution, "list")["objects"]
    assert [o["key"] for o in listed] == ["in/report.csv"]
    assert listed[0]["size"] == 20 and listed[0]["etag"] == head["ETag"]
    down = outputs(execution, "down")
    assert Path(down["uri"]).read_text() == "name,amount\na,1\nb,2\n"
    assert down["contentLength"] == 20 and down["contentType"] == "text/csv"
    assert down["metadata"] == {"origin": "test"}
    files = outputs(execution, "down_many")["files"]
    assert Path(files["many/made.txt"]["uri"]).read_text() == "made by a task"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="in/made.txt")


def test_errors_name_the_object_and_hide_the_secret(write_flow: Callable[..., Path],
                                                    moto_endpoint: str, bucket: str) -> None:
    flow = ("id: s3_missing\nnamespace: demo\ntasks:\n"
            + task("down", "Download", moto_endpoint, f"    bucket: {bucket}\n    key: nope.csv\n"))
    execution = run_flow(write_flow, flow)
    assert execution["state"]["current"] == "FAILED"
    assert f"s3://{bucket}/nope.csv" in execution["_stderr"]
    assert "NoSuchKey" in execution["_stderr"] or "Not Found" in execution["_stderr"]


def test_a_missing_extra_is_named_in_validation() -> None:
    from runner.tasks.plugins import missing_extra

    assert "pip install 'gitflows[s3]'" in (missing_extra("io.kestra.plugin.aws.s3.Upload") or "")


# -- the trigger, through a real server ---------------------------------------------------
FLOW = """\
id: csv_in
namespace: demo
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
    interval: PT0.3S
{connection}    bucket: {bucket}
    prefix: {prefix}
    maxFiles: 1
    action: {action}
{extra}tasks:
  - id: download
    type: io.kestra.plugin.aws.s3.Download
{connection}    bucket: {bucket}
    key: "{{{{ trigger.objects[0].key }}}}"
  - id: parse
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - total=$(awk -F, 'NR>1 {{s+=$2}} END {{print s}}' "{{{{ trigger.objects[0].path }}}}")
      - echo "{{{{ trigger.objects[0].key }}}} $total {{{{ trigger.objects[0].uri }}}}" >> {results}
      - echo "::{{\\"outputs\\":{{\\"total\\":$total}}}}::"
"""


def _flow(endpoint: str, bucket: str, prefix: str, action: str, results: Path, extra: str = "",
          download: bool = True) -> str:
    text = FLOW.format(connection=connection(endpoint), bucket=bucket, prefix=prefix, action=action,
                       extra=extra, results=results)
    if not download:  # DELETE/MOVE: the object is gone from its key; the run reads its copy
        head, tail = text.split("  - id: download", 1)
        text = head + "  - id: parse" + tail.split("  - id: parse", 1)[1]
    return text


def _serve(tmp_path: Path, repo: Path, port: int, name: str) -> Server:
    return Server(["--repo", f"demo={repo}", "--data", str(tmp_path / "data"), "--executor", "process"],
                  port=port, log=tmp_path / f"{name}.log", env=env())


def _lines(path: Path, count: int, timeout: float = CEILING) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, f"waited for {count} run(s), saw {lines}"
        time.sleep(0.1)


def _repo(tmp_path: Path, flows: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, text in flows.items():
        commit(repo, f".flows/{name}.yml", text, name)
    return repo


def test_each_uploaded_csv_runs_once_across_kill_9(tmp_path: Path, moto_endpoint: str, s3: Any,
                                                   bucket: str) -> None:
    results = tmp_path / "results.txt"
    repo = _repo(tmp_path, {"csv_in": _flow(moto_endpoint, bucket, "incoming/", "NONE", results)})
    s3.put_object(Bucket=bucket, Key="elsewhere/x.csv", Body=b"h,v\n1,100\n")
    port = free_port()
    server = _serve(tmp_path, repo, port, "first")
    try:
        s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"h,v\nx,1\ny,2\n")
        assert _lines(results, 1) == [f"incoming/a.csv 3 s3://{bucket}/incoming/a.csv"]
        settled(tmp_path / "data", 1)  # a run killed half-way would be taken over: not this test
    finally:
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
    s3.put_object(Bucket=bucket, Key="incoming/b.csv", Body=b"h,v\nx,10\n")
    s3.put_object(Bucket=bucket, Key="incoming/c.csv", Body=b"h,v\nx,20\ny,30\n")
    server = _serve(tmp_path, repo, port, "second")
    try:
        lines = _lines(results, 3)
        time.sleep(2)  # several more polls: nothing may fire again
        lines = results.read_text().splitlines()
        assert sorted(lines) == sorted([f"incoming/a.csv 3 s3://{bucket}/incoming/a.csv",
                                        f"incoming/b.csv 10 s3://{bucket}/incoming/b.csv",
                                        f"incoming/c.csv 50 s3://{bucket}/incoming/c.csv"])
        s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"h,v\nx,7\n")  # a new version
        assert _lines(results, 4)[3] == f"incoming/a.csv 7 s3://{bucket}/incoming/a.csv"
        runs = json.loads(run_cli("history", "--json", cwd=repo).stdout)
        assert len(runs) == 4 and {r["state"] for r in runs} == {"SUCCESS"}
    finally:
        server.stop()
    logs = (tmp_path / "first.log").read_text() + (tmp_path / "second.log").read_text()
    assert SECRET not in logs


def test_delete_and_move_happen_after_the_run_is_queued(tmp_path: Path, moto_endpoint: str, s3: Any,
                                                        bucket: str) -> None:
    deleted, moved = tmp_path / "deleted.txt", tmp_path / "moved.txt"
    archive = f"gf-arch-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=archive)
    repo = _repo(tmp_path, {
        "on_delete": _flow(moto_endpoint, bucket, "del/", "DELETE", deleted, download=False)
        .replace("id: csv_in", "id: on_delete"),
        "on_move": _flow(moto_endpoint, bucket, "mv/", "MOVE", moved, download=False,
                         extra=f"    moveTo:\n      bucket: {archive}\n      key: done\n")
        .replace("id: csv_in", "id: on_move")})
    server = _serve(tmp_path, repo, free_port(), "serve")
    try:
        s3.put_object(Bucket=bucket, Key="del/one.csv", Body=b"h,v\nx,4\n")
        s3.put_object(Bucket=bucket, Key="mv/two.csv", Body=b"h,v\nx,5\n")
        assert _lines(deleted, 1) == [f"del/one.csv 4 s3://{bucket}/del/one.csv"]
        assert _lines(moved, 1) == [f"mv/two.csv 5 s3://{archive}/done/two.csv"]
        deadline = time.monotonic() + CEILING
        while "Contents" in s3.list_objects_v2(Bucket=bucket):
            assert time.monotonic() < deadline, "the objects were neither deleted nor moved"
            time.sleep(0.1)
        body = s3.get_object(Bucket=archive, Key="done/two.csv")["Body"].read()
        assert body == b"h,v\nx,5\n"
        time.sleep(1.5)
        assert len(deleted.read_text().splitlines()) == 1 and len(moved.read_text().splitlines()) == 1
    finally:
        server.stop()


def test_a_crash_between_commit_and_action_fires_nothing_again(tmp_path: Path, moto_endpoint: str,
                                                                s3: Any, bucket: str) -> None:
    """The batch is committed but the server dies before finish(True): the next poll only
    completes the DELETE, from the cursor that was committed with the runs."""
    from runner.plugins.s3 import poll_trigger
    from runner.ports.polling import TriggerContext

    props = {"endpointOverride": moto_endpoint, "region": "us-east-1", "accessKeyId": KEY_ID,
             "secretKeyId": SECRET, "bucket": bucket, "prefix": "p/", "action": "DELETE"}
    s3.put_object(Bucket=bucket, Key="p/a.csv", Body=b"a")

    def context(cursor: Any) -> TriggerContext:
        return TriggerContext("demo", "f", "t", props, cursor, tmp_path)

    first = poll_trigger(context(None))
    assert [o["key"] for o in first.events[0].variables["objects"]] == ["p/a.csv"]
    assert Path(first.events[0].variables["objects"][0]["path"]).read_bytes() == b"a"
    # committed, then the process died: finish(True) never ran
    again = poll_trigger(context(first.cursor))
    assert not again.events
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="p/")
    assert again.cursor == {"v": 1, "seen": []}  # done: forgotten
