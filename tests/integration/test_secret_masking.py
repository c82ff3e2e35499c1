"""Secrets never leave the engine in clear: `flows run --record --json`, then every place a
value can come out (stdout, stderr, every git object of the repository) is searched for the
secret and its trivial transforms."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.parse
from pathlib import Path

from tests.conftest import run_cli
from tests.integration.test_hooks import git

SECRET = "Tr0ub4dor&3-horse"  # '&' makes its URL-encoded form differ
MULTI = "-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA\nUVJTVFVWV1hZWltcXV5fYA\n-----END KEY-----"
INPUT = "input-secret-77"

FLOW = """\
id: leak
namespace: demo
inputs:
  - id: password
    type: SECRET
outputs:
  - id: out
    type: STRING
    value: "{{ outputs.plain.value }}"
tasks:
  - id: plain
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('API') }}"
  - id: encoded
    type: io.kestra.plugin.core.debug.Return
    format: "b64={{ secret('API') | base64encode }} url={{ secret('API') | urlencode }}"
  - id: shifted
    type: io.kestra.plugin.core.debug.Return
    format: "{{ ('x' ~ secret('API') ~ 'yz') | base64encode }}"
  - id: lines
    type: io.kestra.plugin.core.log.Log
    message: "{{ secret('KEY') }}"
  - id: input
    type: io.kestra.plugin.core.log.Log
    message: "the input is {{ inputs.password }}"
  - id: script
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    env:
      API: "{{ secret('API') }}"
    commands:
      - 'echo "::{\\"outputs\\":{\\"echo\\":\\"$API\\"}}::"'
      - printf '%s' "$API" | base64
"""


def forms(secret: str) -> list[str]:
    encoded = base64.b64encode(secret.encode()).decode()
    return [secret, encoded, encoded.rstrip("="), urllib.parse.quote(secret, safe=""),
            *(line for line in secret.splitlines() if len(line) >= 8 and "-----" not in line)]


def test_secrets_are_masked_in_json_logs_and_every_git_object(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "leak.yml").write_text(FLOW)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "flow")
    env = {"SECRET_API": base64.b64encode(SECRET.encode()).decode(),
           "SECRET_KEY": base64.b64encode(MULTI.encode()).decode()}
    done = run_cli("run", str(repo / ".flows" / "leak.yml"), "--executor", "process", "--json",
                   "--record", "-i", f"password={INPUT}", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["inputs"]["password"] == "******"
    assert shown["outputs"]["out"] == "******"
    outputs = {t["taskId"]: t["outputs"] for t in shown["taskRunList"]}
    assert outputs["plain"]["value"] == "******"
    assert outputs["script"]["echo"] == "******"
    objects = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                             capture_output=True, check=True).stdout.decode("utf-8", "replace")
    assert "refs/notes/flows" in git(repo, "for-each-ref", "--format=%(refname)")
    assert "******" in objects  # the history was written, masked
    for where, text in {"stdout": done.stdout, "stderr": done.stderr, "git": objects}.items():
        for secret in (SECRET, MULTI, INPUT):
            for form in forms(secret):
                assert form not in text, f"{form!r} of a secret in {where}"
