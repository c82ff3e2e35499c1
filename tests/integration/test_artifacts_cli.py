"""Artifacts between runs, as a user sees them: `flows run` of one flow publishes, a later
`flows run` of another flow of the same git repository downloads by branch, and `flows
artifacts` lists and fetches them; host processes, a real git repository, the installed CLI."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import Server, run_cli
from tests.waiting import CEILING

BUILD = """
id: build
namespace: demo
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: make
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - mkdir -p dist && echo "built by {{ execution.id }}" > dist/app.txt
      - id: up
        type: gitflows.artifacts.Upload
        name: app
        files: ["dist/*.txt"]
        retention: P7D
"""

DEPLOY = """
id: deploy
namespace: demo
tasks:
  - id: down
    type: gitflows.artifacts.Download
    name: app
    into: fetched
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "deploying {{ read(outputs.down.outputFiles['dist/app.txt']) }}"
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "build.yml").write_text(BUILD)
    (repo / ".flows" / "deploy.yml").write_text(DEPLOY)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "flows")
    return repo


def test_a_later_run_of_another_flow_downloads_by_branch_and_the_cli_lists_it(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    env = {"GITFLOWS_DATA": str(tmp_path / "data")}
    head = _git(repo, "rev-parse", "HEAD")
    built = run_cli("run", ".flows/build.yml", "--executor", "process", "--json", cwd=repo,
                    env=env)
    assert built.returncode == 0, built.stderr
    build_id = json.loads(built.stdout)["id"]
    # a second branch publishes too: main's deploy must not take it
    _git(repo, "checkout", "-qb", "feature")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "feature")
    assert run_cli("run", ".flows/build.yml", "--executor", "process", cwd=repo,
                   env=env).returncode == 0
    _git(repo, "checkout", "-q", "main")

    deployed = run_cli("run", ".flows/deploy.yml", "--executor", "process", "--json", cwd=repo,
                       env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert f"deploying built by {build_id}" in deployed.stderr
    down = next(t for t in json.loads(deployed.stdout)["taskRunList"] if t["taskId"] == "down")
    assert down["outputs"]["execution"] == build_id and down["outputs"]["commit"] == head

    listed = run_cli("artifacts", "list", "--json", cwd=repo, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["branch"]) for r in rows] == [("app", "feature"), ("app", "main")]
    assert rows[1]["execution"] == build_id and rows[1]["flow"] == "demo.build"
    assert rows[1]["files"][0]["path"] == "dist/app.txt" and rows[1]["trusted"] is True

    into = tmp_path / "out"
    got = run_cli("artifacts", "get", "app", "--into", str(into), cwd=repo, env=env)
    assert got.returncode == 0, got.stderr
    assert (into / "dist" / "app.txt").read_text() == f"built by {build_id}\n"
    by_run = run_cli("artifacts", "get", "app", "--execution", build_id, "--into",
                     str(tmp_path / "by-run"), cwd=repo, env=env)
    assert by_run.returncode == 0, by_run.stderr
    missing = run_cli("artifacts", "get", "app", "--branch", "nope", cwd=repo, env=env)
    assert missing.returncode == 2 and "no artifact app for branch nope" in missing.stderr


def _http(base: str, method: str, path: str) -> tuple[int, bytes]:
    headers = {"X-Gitflows-Request": "1"} if method != "GET" else {}
    request = urllib.request.Request(base + path, data=b"" if method != "GET" else None,
                                     method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=CEILING) as response:  # wait=true: a run
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_server_keeps_artifacts_per_repository_and_answers_them(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    head = _git(repo, "rev-parse", "HEAD")
    server = Server(["--data", str(tmp_path / "data"), "--executor", "process",
                     "--repo", f"app={repo}"], log=tmp_path / "serve.log")
    try:
        status, body = _http(server.base, "POST", "/api/v1/executions/demo/build?wait=true")
        built = json.loads(body)
        assert status == 200 and built["state"]["current"] == "SUCCESS", body
        status, body = _http(server.base, "POST", "/api/v1/executions/demo/deploy?wait=true")
        deployed = json.loads(body)
        assert status == 200 and deployed["state"]["current"] == "SUCCESS", body
        down = next(t for t in deployed["taskRunList"] if t["taskId"] == "down")
        assert down["outputs"]["execution"] == built["id"] and down["outputs"]["branch"] == "main"

        status, body = _http(server.base, "GET", "/api/v1/artifacts?repo=app&name=app&branch=main")
        rows = json.loads(body)
        assert status == 200 and [(r["repo"], r["execution"]) for r in rows] == \
            [("app", built["id"])]
        assert rows[0]["commit"] == head and rows[0]["files"][0]["path"] == "dist/app.txt"
        query = urllib.parse.urlencode({"repo": "app", "id": rows[0]["id"],
                                        "path": "dist/app.txt"})
        status, content = _http(server.base, "GET", f"/api/v1/artifacts/file?{query}")
        assert (status, content) == (200, f"built by {built['id']}\n".encode())
        for bad in ({"repo": "app", "id": rows[0]["id"], "path": "../index.sqlite"},
                    {"repo": "nope", "id": rows[0]["id"], "path": "dist/app.txt"}):
            status, _ = _http(server.base, "GET",
                              f"/api/v1/artifacts/file?{urllib.parse.urlencode(bad)}")
            assert status == 404
    finally:
        server.stop()
    # the same store, read by the CLI on the server's machine
    listed = run_cli("artifacts", "--data", str(tmp_path / "data"), "--repo", "app", "list",
                     "--json")
    assert [r["execution"] for r in json.loads(listed.stdout)] == [built["id"]]
