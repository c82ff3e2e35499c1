"""A commit with a huge flow file: reading the flows of that commit reads only the limit
of it, and the flow is reported too large (a hostile push cannot make every listing slow)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.git.repo import MAX_FILE_READ, GitRepo
from runner.language.parse import parse_flow
from tests.integration.test_hooks import git

SMALL = """\
id: small
namespace: demo
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def test_a_huge_flow_blob_is_read_only_to_the_limit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".flows").mkdir(parents=True)
    (repo / ".flows" / "small.yml").write_text(SMALL)
    with (repo / ".flows" / "huge.yml").open("w") as out:
        out.write("id: huge\nnamespace: demo\ntasks: []\n")
        out.write(("# " + "x" * 1000 + "\n") * 20_000)  # about 20 MB
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "huge")
    files = GitRepo(repo).files_at(GitRepo(repo).resolve(), ".flows")
    assert list(files) == [".flows/huge.yml", ".flows/small.yml"]
    assert len(files[".flows/huge.yml"]) == MAX_FILE_READ + 1
    assert files[".flows/small.yml"] == SMALL
    flow, diagnostics = parse_flow(files[".flows/huge.yml"], ".flows/huge.yml")
    assert flow is None and [d.code for d in diagnostics] == ["file-too-large"]
    small, _ = parse_flow(files[".flows/small.yml"], ".flows/small.yml")
    assert small is not None and small.id == "small"
