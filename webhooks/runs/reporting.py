"""Reporting back to the forge: a commit status (or GitHub check run) per flow run of a
push or pull request, and failure alerts to the configured URLs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner import forges
from runner.events import State
from runner.forges.github_app import AppAuthError, AppCredentials, GitHubApp
from runner.reporters.commit_status import StatusReporter
from runner.reporters.notify import send_alerts
from runner.reporters.status_text import files_under
from webhooks.config import RepoConfig, ServerConfig

log = logging.getLogger("gitflows.report")


def ui_base(config: ServerConfig) -> str:
    """Where users reach this server's UI: public_url, else the address it listens on."""
    return config.public_url.rstrip("/") if config.public_url else \
        f"http://{config.host}:{config.port}"


class Reporting:
    def __init__(self, config: ServerConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ
        self.apps: dict[str, GitHubApp] = {}
        for repo in config.repos:
            if repo.app_id:  # load at start: a bad key is a configuration error now
                credentials = AppCredentials.load(repo.app_id, key_file=repo.app_key_file,
                                                  key_env=repo.app_key_env, environ=environ,
                                                  installation_id=repo.installation_id)
                self.apps[repo.name] = GitHubApp(credentials, self._api(repo))

    def _api(self, repo: RepoConfig) -> str:
        return (repo.api_url or _default_api(repo.provider)).rstrip("/")

    def reporter(self, repo_name: str, commit: str, flow: str, execution_id: str,
                 trigger: Mapping[str, Any], checkout: Path | None) -> StatusReporter | None:
        """A reporter for runs of pushes and pull requests of a forge repository; else None."""
        repo = next((r for r in self.config.repos if r.name == repo_name), None)
        if repo is None or repo.provider not in forges.NAMES or trigger.get("type") not in (
                "push", "pull_request"):
            return None
        token = self.environ.get(repo.token_env) if repo.token_env else None
        app = self.apps.get(repo_name)
        if not token and app is None:
            return None
        return StatusReporter(repo.provider, self._api(repo), token, repo.name, commit, flow,
                              self.link(execution_id), app=app,
                              repo_files=files_under(checkout) if checkout else None,
                              execution_id=execution_id)

    def link(self, execution_id: str) -> str:
        """The execution's page in the UI: what commit statuses and alerts link to."""
        return f"{ui_base(self.config)}/ui/executions/{execution_id}"

    def finished(self, reporter: StatusReporter | None, state: State,
                 execution: dict[str, Any]) -> None:
        if reporter is not None:
            reporter.close(state)
        if state is State.FAILED and self.config.notify:
            # the alert's "url" is the one its commit status links to, public_url or not
            url = execution.get("url") or self.link(str(execution.get("id")))
            linked = {**execution, "url": url}
            send_alerts(self.config.notify, linked, environ=self.environ)


__all__ = ["AppAuthError", "Reporting", "ui_base"]


def _default_api(provider: str) -> str:
    forge = forges.get(provider)
    return forge.default_api if forge is not None else ""
