"""The one git runner (runner/git/repo.py `git`): git's own words on failure with the
configuration and the hidden values masked, and no hook's GIT_DIR steering it elsewhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.git.repo import GitError, git


def _init(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_a_failure_names_the_command_never_its_configuration_or_secret(tmp_path: Path) -> None:
    repo = _init(tmp_path / "repo")
    token = "s3cr3t-token-value"
    with pytest.raises(GitError) as failed:
        git(repo, "-c", f"http.extraHeader=Authorization: Basic {token}", "fetch",
            f"https://{token}@127.0.0.1:9/none.git", hide=(token,))
    message = failed.value.message
    assert message.startswith("git fetch https://") and f" in {repo}: " in message
    assert token not in message and "extraHeader" not in message and "******" in message


def test_a_hooks_git_dir_does_not_redirect_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, other = _init(tmp_path / "ours"), _init(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    top = git(ours, "rev-parse", "--show-toplevel").stdout.decode().strip()
    assert Path(top) == ours.resolve()


def test_without_the_callers_environment_only_what_it_is_given(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'user.name=from-the-environment'")
    inherited = git(None, "config", "user.name", check=False).stdout.decode().strip()
    plain = git(None, "config", "user.name", check=False, inherit_env=False,
                env={"HOME": str(tmp_path)}).stdout.decode().strip()
    assert inherited == "from-the-environment" and plain == ""


def test_no_git_repository_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        git(tmp_path, "rev-parse", "HEAD", env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
