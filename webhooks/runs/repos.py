"""Repositories: the served git repositories and what the server knows of each — its
checkout or mirror, its token, how its runs are superseded, whether forks are trusted, its
run history. A read-only mapping name → GitRepo, so `for name in repos` and `repos[name]` work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from runner.git.mirror import ensure_mirror, fetch, is_remote, mirror_path
from runner.git.repo import GitRepo
from runner.history.notes import NotesStore, Progress
from webhooks.config import RepoConfig, ServerConfig
from webhooks.ingress.receive import config_secrets

log = logging.getLogger("gitflows.history")


class Repositories(Mapping[str, GitRepo]):
    def __init__(self, config: ServerConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ
        self.mirrors: dict[str, Path] = {}  # served repositories that are remote: name → mirror
        self._git: dict[str, GitRepo] = {}
        self._stores: dict[str, NotesStore] = {}
        self._lock = threading.Lock()
        for repo in config.repos:
            if is_remote(repo.location):
                path = ensure_mirror(repo.location, mirror_path(config.data_dir / "mirrors", repo.name),
                                     self.token(repo.name))
                self.mirrors[repo.name] = path
                self._git[repo.name] = GitRepo(path)
            else:
                self._git[repo.name] = GitRepo(Path(repo.location))
        # a delivery's repository → the secret its signature is checked with
        self.secret_for = config_secrets(config.repos, environ)

    def __getitem__(self, name: str) -> GitRepo:
        return self._git[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._git)

    def __len__(self) -> int:
        return len(self._git)

    def settings(self, name: str) -> RepoConfig:
        """The configuration of a served repository (StopIteration if it is not served)."""
        return next(r for r in self.config.repos if r.name == name)

    def token(self, name: str) -> str | None:
        """The forge token of a served repository, from its token_env (None without one)."""
        env = next((r.token_env for r in self.config.repos if r.name == name), None)
        return self.environ.get(env) if env else None

    def sensitive(self) -> frozenset[str]:
        """The server's own secrets (forge tokens, webhook secrets): masked in every run."""
        names = [r.token_env for r in self.config.repos if r.token_env]
        names += [r.webhook_secret_env for r in self.config.repos if r.webhook_secret_env]
        return frozenset(v for n in names if (v := self.environ.get(n)))

    def refresh(self, name: str) -> None:
        """Fetch a remote repository's mirror so the event's commit is here."""
        if name in self.mirrors:
            fetch(self.mirrors[name], self.token(name))

    def repo_name(self, full_name: str) -> str | None:
        """The served repository a provider's full name (owner/name) refers to."""
        for name in self._git:
            if name.lower() == full_name.lower():
                return name
        return None

    def superseded(self, name: str) -> str:
        """What a newer run does to the older ones of its group: "cancel" them or not."""
        return next((r.superseded for r in self.config.repos if r.name == name), "cancel")

    def trusts_forks(self, name: str) -> bool:
        return any(r.name == name and r.trusted_forks for r in self.config.repos)

    def history(self, name: str) -> NotesStore:
        """The run history of a served repository: its own refs/notes/flows."""
        with self._lock:
            store = self._stores.get(name)
            if store is None:
                index = self.config.data_dir / "history" / f"{mirror_path(Path(), name).stem}.sqlite"
                index.parent.mkdir(parents=True, exist_ok=True)
                store = self._stores[name] = NotesStore(self._git[name].path, index=index,
                                                        progress=_logged(name))
            return store

    def index_histories(self) -> None:
        """Bring every served repository's run index up to date (at start, in the background:
        the first read of a clone with a large history need not wait for it)."""
        for name in list(self._git):
            try:
                self.history(name).catch_up()
            except Exception as err:  # a read retries it; the server goes on
                log.warning("run history of %s: indexing failed: %s", name, err)


def _logged(name: str) -> Progress:
    """A long index catch-up, in the server log: when it starts and how long it took."""
    started = time.monotonic()

    def report(read: int, total: int) -> None:
        nonlocal started
        if read == 0:
            started = time.monotonic()
            log.info("run history of %s: indexing %d notes (once: the index is kept)", name, total)
        elif read == total:
            log.info("run history of %s: %d notes indexed in %.1fs", name, total,
                     time.monotonic() - started)
    return report
