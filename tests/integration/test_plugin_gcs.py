"""The GCS family (io.kestra.plugin.gcp.gcs.*) against a real server speaking Google's storage
JSON API on 127.0.0.1 (gcp-storage-emulator). Tasks run through `flows run` with a service
account key from a secret (its tokens from a local OAuth stand-in); the trigger through a real
`flows serve`, killed with -9 between a poll and its commit."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

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
from tests.integration.storage_emulators import gcs_endpoint  # noqa: F401 (fixture)


class TokenStandIn:
    """Google's OAuth token endpoint for a service account (JWT bearer grant)."""

    def __init__(self) -> None:
        self.grants: list[dict[str, list[str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                owner.grants.append(form)
                ok = form.get("grant_type") == ["urn:ietf:params:oauth:grant-type:jwt-bearer"] and \
                    form.get("assertion", [""])[0].count(".") == 2
                body = json.dumps({"access_token": "ya29.stand-in", "expires_in": 3600,
                                   "token_type": "Bearer"} if ok else {"error": "invalid_grant"}).encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def service_account() -> Iterator[tuple[str, TokenStandIn]]:
    """A service account key (JSON) whose token_uri is the stand-in, and the stand-in."""
    tokens = TokenStandIn()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "gf-test", "private_key_id": "k1",
            "private_key": pem, "client_email": "robot@gf-test.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": tokens.url}
    yield json.dumps(info), tokens
    tokens.server.shutdown()


@pytest.fixture
def gcs(gcs_endpoint: str) -> storage.Client:  # noqa: F811
    return storage.Client(project="gf-test", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": gcs_endpoint})


@pytest.fixture
def bucket(gcs: storage.Client) -> str:
    name = f"gf-{uuid.uuid4().hex[:12]}"
    gcs.create_bucket(name)
    return name


def _env(key: str) -> dict[str, str]:
    return {"SECRET_GCP_SA": base64.b64encode(key.encode()).decode()}


def _task(task_id: str, kind: str, endpoint: str, body: str) -> str:
    return (f"  - id: {task_id}\n    type: io.kestra.plugin.gcp.gcs.{kind}\n"
            f"    endpointOverride: {endpoint}\n    serviceAccount: \"{{{{ secret('GCP_SA') }}}}\"\n" + body)


def _run(write_flow: Callable[..., Path], text: str, key: str) -> dict[str, Any]:
    return run_flow(write_flow(text), _env(key), ("PRIVATE KEY",))


def test_upload_list_download_copy_delete(write_flow: Callable[..., Path], tmp_path: Path,
                                          gcs_endpoint: str, gcs: storage.Client, bucket: str,  # noqa: F811
                                          service_account: tuple[str, TokenStandIn]) -> None:
    key, tokens = service_account
    (tmp_path / "report.csv").write_text("name,amount\na,1\nb,2\n")
    b = f"gs://{bucket}"
    flow = ("id: gcs_tasks\nnamespace: demo\ntasks:\n"
            + _task("up", "Upload", gcs_endpoint,
                    f"    from: nsfile:///report.csv\n    to: {b}/in/report.csv\n"
                    "    contentType: text/csv\n    metadata:\n      origin: test\n")
            + _task("up_dir", "Upload", gcs_endpoint,
                    f"    from: nsfile:///report.csv\n    to: {b}/other/\n")
            + _task("list", "List", gcs_endpoint, f"    from: {b}/in/\n    filter: FILES\n"
                    "    regExp: \".*\\\\.csv\"\n")
            + _task("down", "Download", gcs_endpoint, f"    from: {b}/in/report.csv\n")
            + _task("copy", "Copy", gcs_endpoint, f"    from: {b}/in/report.csv\n    to: {b}/copied/r.csv\n")
            + _task("downloads", "Downloads", gcs_endpoint, f"    from: {b}/other/\n    action: DELETE\n")
            + _task("delete", "Delete", gcs_endpoint, f"    uri: {b}/copied/r.csv\n")
            + _task("delete_missing", "Delete", gcs_endpoint, f"    uri: {b}/nope.csv\n"))
    execution = _run(write_flow, flow, key)
    assert execution["state"]["current"] == "SUCCESS", execution["_stderr"]
    assert outputs(execution, "up") == {"uri": f"{b}/in/report.csv"}
    assert outputs(execution, "up_dir") == {"uri": f"{b}/other/report.csv"}
    blob = gcs.bucket(bucket).get_blob("in/report.csv")
    assert blob.content_type == "text/csv" and blob.metadata == {"origin": "test"}
    [listed] = outputs(execution, "list")["blobs"]
    assert (listed["uri"], listed["size"], listed["contentType"]) == (f"{b}/in/report.csv", 20, "text/csv")
    down = outputs(execution, "down")
    assert Path(down["uri"]).read_text() == "name,amount\na,1\nb,2\n" and down["path"] == "in/report.csv"
    assert outputs(execution, "copy") == {"uri": f"{b}/copied/r.csv"}
    many = outputs(execution, "downloads")
    assert [Path(x["uri"]).read_text() for x in many["blobs"]] == ["name,amount\na,1\nb,2\n"]
    assert outputs(execution, "delete") == {"uri": f"{b}/copied/r.csv", "deleted": True}
    assert outputs(execution, "delete_missing")["deleted"] is False
    assert sorted(x.name for x in gcs.list_blobs(bucket)) == ["in/report.csv"]  # other/ DELETEd, copy deleted
    assert tokens.grants, "the service account's token was asked for"


def test_a_bad_service_account_fails_without_showing_it(write_flow: Callable[..., Path],
                                                         gcs_endpoint: str, bucket: str) -> None:  # noqa: F811
    leaked = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nNOPE-4f2c\\n"}'
    execution = _run(write_flow, "id: gcs_bad\nnamespace: demo\ntasks:\n"
                     + _task("list", "List", gcs_endpoint, f"    from: gs://{bucket}/\n"), leaked)
    assert execution["state"]["current"] == "FAILED"
    assert "serviceAccount is not a service account key" in execution["_stderr"]
    assert "NOPE-4f2c" not in execution["_stderr"] + json.dumps(execution)


def test_a_missing_object_is_named(write_flow: Callable[..., Path], gcs_endpoint: str, bucket: str,  # noqa: F811
                                   service_account: tuple[str, TokenStandIn]) -> None:
    execution = _run(write_flow, "id: gcs_missing\nnamespace: demo\ntasks:\n"
                     + _task("down", "Download", gcs_endpoint, f"    from: gs://{bucket}/nope.csv\n"),
                     service_account[0])
    assert execution["state"]["current"] == "FAILED"
    assert f"gs://{bucket}/nope.csv: no such object" in execution["_stderr"]


def _trigger(endpoint: str, bucket: str, action: str, extra: str = "") -> str:
    return (f"    type: io.kestra.plugin.gcp.gcs.Trigger\n    endpointOverride: {endpoint}\n"
            f"    from: gs://{bucket}/incoming/\n    action: {action}\n    maxFiles: 1\n{extra}")


def test_each_csv_fires_once_across_kill_9_between_poll_and_commit(
        tmp_path: Path, gcs_endpoint: str, gcs: storage.Client, bucket: str) -> None:  # noqa: F811
    results = tmp_path / "results.txt"
    repo = repo_with(tmp_path, {"csv_in": parse_flow("csv_in", _trigger(gcs_endpoint, bucket, "NONE"),
                                                     results)})
    gcs.bucket(bucket).blob("elsewhere/x.csv").upload_from_string(b"h,v\n1,100\n")

    def put(name: str, body: bytes) -> None:
        gcs.bucket(bucket).blob(name).upload_from_string(body)

    counts = kill_between_poll_and_commit(tmp_path, repo, {}, put, results)
    assert counts == {"incoming/a.csv": 1, "incoming/b.csv": 1, "incoming/c.csv": 1}
    assert f"incoming/a.csv 3 gs://{bucket}/incoming/a.csv" in results.read_text()
    runs = json.loads(run_cli("history", "--json", cwd=repo).stdout)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"SUCCESS"}


def test_a_flow_uploads_a_csv_and_the_trigger_parses_it_then_moves_it(
        write_flow: Callable[..., Path], tmp_path: Path, gcs_endpoint: str, gcs: storage.Client,  # noqa: F811
        bucket: str, service_account: tuple[str, TokenStandIn]) -> None:
    """The seed's "when a CSV lands in storage, parse it", end to end."""
    results = tmp_path / "parsed.txt"
    move = f"    moveDirectory: gs://{bucket}/archive/\n"
    repo = repo_with(tmp_path, {"on_csv": parse_flow("on_csv", _trigger(gcs_endpoint, bucket, "MOVE", move),
                                                     results)})
    server = serve(tmp_path, repo, free_port(), "serve", {})
    try:
        (tmp_path / "sales.csv").write_text("item,amount\npen,4\nink,38\n")
        execution = _run(write_flow, "id: upload\nnamespace: demo\ntasks:\n" + _task(
            "up", "Upload", gcs_endpoint, f"    from: nsfile:///sales.csv\n    to: gs://{bucket}/incoming/\n"),
            service_account[0])
        assert execution["state"]["current"] == "SUCCESS", execution["_stderr"]
        assert lines(results, 1) == [f"incoming/sales.csv 42 gs://{bucket}/archive/sales.csv"]
        wait_for(lambda: [x.name for x in gcs.list_blobs(bucket)] == ["archive/sales.csv"],
                 "the CSV moved to archive/ after the run was committed")
    finally:
        server.stop()


def test_a_crash_between_commit_and_action_fires_nothing_again(tmp_path: Path, gcs_endpoint: str,  # noqa: F811
                                                                gcs: storage.Client, bucket: str) -> None:
    from runner.plugins.gcs import poll_trigger
    from runner.ports.polling import TriggerContext

    props = {"endpointOverride": gcs_endpoint, "from": f"gs://{bucket}/p/", "action": "DELETE"}
    gcs.bucket(bucket).blob("p/a.csv").upload_from_string(b"a")
    first = poll_trigger(TriggerContext("demo", "f", "t", props, None, tmp_path))
    [blob] = first.events[0].variables["blobs"]
    assert (blob["name"], blob["uri"]) == ("p/a.csv", f"gs://{bucket}/p/a.csv")
    assert Path(blob["path"]).read_bytes() == b"a"
    again = poll_trigger(TriggerContext("demo", "f", "t", props, first.cursor, tmp_path))  # finish never ran
    assert not again.events
    assert list(gcs.list_blobs(bucket)) == [] and again.cursor == {"v": 1, "seen": []}


def test_untrusted_runs_refuse_the_gcs_types() -> None:
    from runner.tasks import UNTRUSTED_OK, default_registry

    resolved = default_registry().resolve("io.kestra.plugin.gcp.gcs.Upload")
    assert resolved is not None and not resolved.typedef.untrusted_ok
    assert not any(name.startswith("io.kestra.plugin.gcp.") for name in UNTRUSTED_OK)


def test_without_the_extras_validation_names_the_install_command() -> None:
    from runner.tasks.plugins import missing_extra

    assert "pip install 'gitflows[gcs]'" in (missing_extra("io.kestra.plugin.gcp.gcs.Trigger") or "")
    assert "pip install 'gitflows[azure]'" in (
        missing_extra("io.kestra.plugin.azure.storage.blob.Upload") or "")
