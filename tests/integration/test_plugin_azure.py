"""The Azure Blob family (io.kestra.plugin.azure.storage.blob.*) against Azurite on 127.0.0.1.
Tasks run through `flows run` with a connection string (or a SAS token) from a secret; the
trigger through a real `flows serve`, killed with -9 between a poll and its commit."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from tests.conftest import free_port, run_cli
from tests.integration.object_store_helpers import (
    kill_between_poll_and_commit,
    lines,
    outputs,
    parse_flow,
    repo_with,
    run_flow,
    serve,
    wait_for,
)
from tests.integration.storage_emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    azurite,  # noqa: F401 (fixture)
)

BLOB = "io.kestra.plugin.azure.storage.blob"


@pytest.fixture
def service(azurite: str) -> BlobServiceClient:  # noqa: F811
    return BlobServiceClient.from_connection_string(azurite)


@pytest.fixture
def container(service: BlobServiceClient) -> str:
    name = f"gf-{uuid.uuid4().hex[:12]}"
    service.create_container(name)
    return name


def _env(**secrets: str) -> dict[str, str]:
    return {f"SECRET_{k}": base64.b64encode(v.encode()).decode() for k, v in secrets.items()}


def _task(task_id: str, kind: str, body: str, auth: str = "") -> str:
    auth = auth or "    connectionString: \"{{ secret('AZURE_CONN') }}\"\n"
    return f"  - id: {task_id}\n    type: {BLOB}.{kind}\n{auth}{body}"


def _run(write_flow: Callable[..., Path], text: str, env: dict[str, str],
         hidden: tuple[str, ...] = (AZURITE_KEY,)) -> dict[str, Any]:
    return run_flow(write_flow(text), env, hidden)


def test_upload_list_download_copy_delete(write_flow: Callable[..., Path], tmp_path: Path, azurite: str,  # noqa: F811
                                          service: BlobServiceClient, container: str) -> None:
    (tmp_path / "report.csv").write_text("name,amount\na,1\nb,2\n")
    c = f"    container: {container}\n"
    flow = ("id: az_tasks\nnamespace: demo\ntasks:\n"
            + _task("up", "Upload", c + "    from: nsfile:///report.csv\n    name: in/report.csv\n"
                    "    contentType: text/csv\n    metadata:\n      origin: test\n")
            + _task("up2", "Upload", c + "    from: nsfile:///report.csv\n    name: other/r.csv\n")
            + _task("list", "List", c + "    prefix: in/\n    regexp: \".*\\\\.csv\"\n    filter: FILES\n")
            + _task("down", "Download", c + "    name: in/report.csv\n")
            + _task("copy", "Copy", f"    from:\n      container: {container}\n      name: in/report.csv\n"
                    f"    to:\n      container: {container}\n      name: copied/r.csv\n")
            + _task("downloads", "Downloads", c + "    prefix: other/\n    action: DELETE\n")
            + _task("delete", "Delete", c + "    name: copied/r.csv\n"))
    execution = _run(write_flow, flow, _env(AZURE_CONN=azurite))
    assert execution["state"]["current"] == "SUCCESS", execution["_stderr"]
    up = outputs(execution, "up")["blob"]
    assert (up["uri"], up["name"], up["size"], up["contentType"]) == \
        (f"az://{container}/in/report.csv", "in/report.csv", 20, "text/csv")
    props = service.get_blob_client(container, "in/report.csv").get_blob_properties()
    assert props.metadata == {"origin": "test"}
    assert [b["name"] for b in outputs(execution, "list")["blobs"]] == ["in/report.csv"]
    assert Path(outputs(execution, "down")["blob"]["uri"]).read_text() == "name,amount\na,1\nb,2\n"
    assert outputs(execution, "copy")["blob"]["uri"] == f"az://{container}/copied/r.csv"
    [many] = outputs(execution, "downloads")["blobs"]
    assert many["name"] == "other/r.csv" and Path(many["uri"]).read_text().startswith("name,amount")
    assert outputs(execution, "delete")["blob"]["name"] == "copied/r.csv"
    names = [b.name for b in service.get_container_client(container).list_blobs()]
    assert names == ["in/report.csv"]  # other/ DELETEd by Downloads, the copy deleted


def test_a_sas_token_from_a_secret_reads_and_is_never_shown(write_flow: Callable[..., Path],
                                                            service: BlobServiceClient, container: str,
                                                            azurite: str) -> None:  # noqa: F811
    service.get_blob_client(container, "x.csv").upload_blob(b"h,v\n")
    sas = generate_container_sas(AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    endpoint = azurite.split("BlobEndpoint=")[1].rstrip(";")
    auth = f"    endpoint: {endpoint}\n    sasToken: \"{{{{ secret('AZURE_SAS') }}}}\"\n"
    execution = _run(write_flow, "id: az_sas\nnamespace: demo\ntasks:\n"
                     + _task("list", "List", f"    container: {container}\n", auth)
                     + _task("delete", "Delete", f"    container: {container}\n    name: x.csv\n", auth),
                     _env(AZURE_SAS=sas), hidden=(sas, sas.split("sig=")[1]))
    assert [b["name"] for b in outputs(execution, "list")["blobs"]] == ["x.csv"]
    assert execution["state"]["current"] == "FAILED"  # the token may read, not delete
    assert f"deleting az://{container}/x.csv: AuthorizationPermissionMismatch" in execution["_stderr"]


def test_a_wrong_key_fails_with_the_services_reason_and_no_key(write_flow: Callable[..., Path],
                                                               container: str, azurite: str) -> None:  # noqa: F811
    wrong = base64.b64encode(b"not-the-key-" * 5).decode()
    execution = _run(write_flow, "id: az_wrong\nnamespace: demo\ntasks:\n"
                     + _task("list", "List", f"    container: {container}\n"),
                     _env(AZURE_CONN=azurite.replace(AZURITE_KEY, wrong)), hidden=(AZURITE_KEY, wrong))
    assert execution["state"]["current"] == "FAILED"
    assert "AuthorizationFailure" in execution["_stderr"] or "AuthenticationFailed" in execution["_stderr"]


def _trigger(container: str, action: str, extra: str = "") -> str:
    return (f"    type: {BLOB}.Trigger\n    connectionString: \"{{{{ secret('AZURE_CONN') }}}}\"\n"
            f"    container: {container}\n    prefix: incoming/\n    action: {action}\n"
            f"    maxFiles: 1\n{extra}")


def test_each_csv_fires_once_across_kill_9_between_poll_and_commit(
        tmp_path: Path, azurite: str, service: BlobServiceClient, container: str) -> None:  # noqa: F811
    results = tmp_path / "results.txt"
    repo = repo_with(tmp_path, {"csv_in": parse_flow("csv_in", _trigger(container, "NONE"), results)})
    client = service.get_container_client(container)
    client.upload_blob("elsewhere/x.csv", b"h,v\n1,100\n")
    counts = kill_between_poll_and_commit(
        tmp_path, repo, _env(AZURE_CONN=azurite),
        lambda name, body: client.upload_blob(name, body, overwrite=True), results)
    assert counts == {"incoming/a.csv": 1, "incoming/b.csv": 1, "incoming/c.csv": 1}
    assert f"incoming/c.csv 50 az://{container}/incoming/c.csv" in results.read_text()
    runs = json.loads(run_cli("history", "--json", cwd=repo).stdout)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"SUCCESS"}
    logs = (tmp_path / "first.log").read_text() + (tmp_path / "second.log").read_text()
    assert AZURITE_KEY not in logs


def test_a_flow_uploads_a_csv_and_the_trigger_parses_it_then_moves_it(
        write_flow: Callable[..., Path], tmp_path: Path, azurite: str, service: BlobServiceClient,  # noqa: F811
        container: str) -> None:
    """The seed's "when a CSV lands in storage, parse it", end to end."""
    results = tmp_path / "parsed.txt"
    move = f"    moveTo:\n      container: {container}\n      name: archive\n"
    repo = repo_with(tmp_path, {"on_csv": parse_flow("on_csv", _trigger(container, "MOVE", move), results)})
    env = _env(AZURE_CONN=azurite)
    server = serve(tmp_path, repo, free_port(), "serve", env)
    try:
        (tmp_path / "sales.csv").write_text("item,amount\npen,4\nink,38\n")
        execution = _run(write_flow, "id: upload\nnamespace: demo\ntasks:\n" + _task(
            "up", "Upload", f"    container: {container}\n    from: nsfile:///sales.csv\n"
            "    name: incoming/sales.csv\n"), env)
        assert execution["state"]["current"] == "SUCCESS", execution["_stderr"]
        assert lines(results, 1) == [f"incoming/sales.csv 42 az://{container}/archive/sales.csv"]
        client = service.get_container_client(container)
        wait_for(lambda: [b.name for b in client.list_blobs()] == ["archive/sales.csv"],
                 "the CSV moved to archive/ after the run was committed")
    finally:
        server.stop()


def test_a_crash_between_commit_and_action_fires_nothing_again(tmp_path: Path, azurite: str,  # noqa: F811
                                                                service: BlobServiceClient,
                                                                container: str) -> None:
    from runner.plugins.azure_blob import poll_trigger
    from runner.ports.polling import TriggerContext

    props = {"connectionString": azurite, "container": container, "prefix": "p/", "action": "DELETE"}
    service.get_blob_client(container, "p/a.csv").upload_blob(b"a")
    first = poll_trigger(TriggerContext("demo", "f", "t", props, None, tmp_path))
    [blob] = first.events[0].variables["blobs"]
    assert (blob["name"], Path(blob["path"]).read_bytes()) == ("p/a.csv", b"a")
    again = poll_trigger(TriggerContext("demo", "f", "t", props, first.cursor, tmp_path))  # finish never ran
    assert not again.events and again.cursor == {"v": 1, "seen": []}
    assert list(service.get_container_client(container).list_blobs()) == []
