"""Server configuration: a YAML file, overridden by command-line flags."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runner.errors import UsageError
from runner.yamlsource import YamlSyntaxError, load


@dataclass(frozen=True)
class RepoConfig:
    name: str
    location: str  # local path (clone URLs arrive with the server issue)
    provider: str = "none"
    webhook_secret_env: str | None = None
    api_url: str | None = None
    token_env: str | None = None
    trusted_forks: bool = False


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path = Path(".flows-data")
    port: int = 8080
    host: str = "127.0.0.1"
    executor: str = "auto"
    workers: int = 4
    repos: tuple[RepoConfig, ...] = ()
    notify: tuple[str, ...] = field(default_factory=tuple)


_REPO_KEYS = {"name", "location", "provider", "webhook_secret_env", "api_url", "token_env",
              "trusted_forks"}
_TOP_KEYS = {"data_dir", "port", "host", "executor", "workers", "repos", "notify"}


def load_config(path: Path | None) -> ServerConfig:
    if path is None:
        return ServerConfig()
    try:
        located = load(path.read_text(encoding="utf-8"), str(path))
    except OSError as err:
        raise UsageError(f"--config {path}: {err.strerror}") from None
    except YamlSyntaxError as err:
        raise UsageError("\n".join(d.format() for d in err.diagnostics)) from None
    data: dict[str, Any] = located.data or {}
    unknown = set(data) - _TOP_KEYS
    if unknown:
        line, col = located.pos((sorted(unknown)[0],))
        raise UsageError(f"{path}:{line}:{col}: unknown setting '{sorted(unknown)[0]}' "
                         f"(known: {', '.join(sorted(_TOP_KEYS))})")
    repos = []
    for index, raw in enumerate(data.get("repos") or []):
        bad = set(raw) - _REPO_KEYS if isinstance(raw, dict) else {"(not a mapping)"}
        if bad or not isinstance(raw, dict) or "name" not in raw or "location" not in raw:
            line, col = located.pos(("repos", index))
            raise UsageError(f"{path}:{line}:{col}: a repo needs name and location "
                             f"(known keys: {', '.join(sorted(_REPO_KEYS))})")
        repos.append(RepoConfig(**raw))
    return ServerConfig(
        data_dir=Path(data.get("data_dir", ".flows-data")),
        port=int(data.get("port", 8080)),
        host=str(data.get("host", "127.0.0.1")),
        executor=str(data.get("executor", "auto")),
        workers=int(data.get("workers", 4)),
        repos=tuple(repos),
        notify=tuple(str(n["url"]) if isinstance(n, dict) else str(n)
                     for n in data.get("notify") or []),
    )


def with_overrides(config: ServerConfig, **flags: Any) -> ServerConfig:
    """Flags given on the command line (not None) win over the file."""
    return replace(config, **{k: v for k, v in flags.items() if v is not None})
