"""Helpers for the message-queue plugin tests (Redis lists, AMQP): a served repository
holding one flow, kill -9 and restart; waiting is tests.waiting's wait_until."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path
from typing import Any

from tests.conftest import Server
from tests.integration.test_hooks import commit, git
from tests.integration.test_serve import call


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Served:
    """A git repository with one flow, served by `flows serve` processes started in turn."""

    def __init__(self, tmp_path: Path, flow: str, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.repo = tmp_path / "repo"
        self.repo.mkdir()
        git(self.repo, "init", "-q", "-b", "main")
        commit(self.repo, ".flows/flow.yml", flow, "flow")
        self.server: Server | None = None
        self.starts = 0

    def start(self, extra_env: dict[str, str] | None = None) -> Server:
        self.starts += 1
        self.server = Server(["--data", str(self.tmp_path / "data"), "--executor", "process"],
                             cwd=self.repo, log=self.log, env={**self.env, **(extra_env or {})})
        return self.server

    @property
    def log(self) -> Path:
        return self.tmp_path / "serve.log"

    def kill9(self) -> None:
        assert self.server is not None
        os.kill(self.server.proc.pid, signal.SIGKILL)
        self.server.proc.wait(10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def executions(self) -> list[dict[str, Any]]:
        """The runs of the running server process (newest first)."""
        assert self.server is not None
        status, runs = call(self.server.base, "GET", "/api/v1/executions?size=500")
        assert status == 200, runs
        return list(runs)

    def all_done(self, count: int | None = None) -> bool:
        runs = self.executions()
        done = all(r["state"]["current"] in ("SUCCESS", "WARNING", "FAILED", "KILLED") for r in runs)
        return done and (count is None or len(runs) == count)
