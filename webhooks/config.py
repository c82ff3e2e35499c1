"""Server configuration: a YAML file, overridden by command-line flags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runner.durations import parse_duration
from runner.errors import UsageError
from runner.git.commit_file import Identity
from runner.reporters.notify import FORMATS, SMTP_STRATEGIES, Alert, EmailAlert, WebhookAlert
from runner.yamlsource import YamlSyntaxError, load
from webhooks.ingress.inbox import MAX_BODY as MAX_DELIVERY

MAX_BODY = 10 * 1024 * 1024  # API request bodies (flow sources, inputs); deliveries may be larger


@dataclass(frozen=True)
class RepoConfig:
    name: str
    location: str  # local path (clone URLs arrive with the server issue)
    provider: str = "none"
    webhook_secret_env: str | None = None
    api_url: str | None = None
    token_env: str | None = None
    trusted_forks: bool = False
    superseded: str = "cancel"  # a newer push/PR run of a flow for the same ref: cancel | run
    app_id: str | None = None  # a GitHub App: check runs instead of statuses
    app_key_file: str | None = None
    app_key_env: str | None = None
    installation_id: int | None = None


@dataclass(frozen=True)
class UiAuth:
    """Who may use the UI and API (webhook endpoints have their own signatures): a bearer
    token and/or a user + password (basic auth), both read from the environment."""

    token_env: str = "GITFLOWS_UI_TOKEN"
    user: str | None = None  # default: $GITFLOWS_UI_USER
    password_env: str = "GITFLOWS_UI_PASSWORD"


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path = Path(".flows-data")
    port: int = 8080
    host: str = "127.0.0.1"
    executor: str = "auto"
    workers: int = 4
    poll: float | None = None  # seconds between polls of the repositories; None: webhooks only
    queue_lease: float = 15.0  # seconds without a heartbeat before a run is taken over
    public_url: str | None = None  # how users reach this server (links in commit statuses)
    repos: tuple[RepoConfig, ...] = ()
    notify: tuple[Alert, ...] = field(default_factory=tuple)  # failure alerts
    ui_auth: UiAuth = UiAuth()
    ui_author: str | None = None  # 'Name <email>': committer (and default author) of UI saves
    insecure_no_auth: bool = False  # listen beyond localhost without auth (a proxy authenticates)
    broker: str | None = None  # redis://…: runs go to `flows worker` processes (scale-out)
    broker_env: str | None = None  # or the env var holding that URL (one with a password)
    max_body: int = MAX_BODY  # bytes of an API request body; larger ones answer 413
    max_delivery: int = MAX_DELIVERY  # bytes of a /hooks/* delivery (at most the inbox's limit)
    # variables of the server's environment passed to trusted steps (never to untrusted ones)
    pass_env: tuple[str, ...] = ()
    allow_volumes: bool = False  # host paths in taskRunner.volumes (trusted runs only)
    allow_docker_socket: bool = False  # among them, a container engine's socket


_REPO_KEYS = {"name", "location", "provider", "webhook_secret_env", "api_url", "token_env",
              "trusted_forks", "superseded", "app_id", "app_key_file", "app_key_env",
              "installation_id"}
_TOP_KEYS = {"data_dir", "port", "host", "executor", "workers", "poll", "queue_lease", "repos",
             "notify", "public_url", "ui_auth", "ui_author", "insecure_no_auth", "broker",
             "broker_env", "max_body", "max_delivery", "pass_env", "allow_volumes",
             "allow_docker_socket"}
_UI_AUTH_KEYS = {"token_env", "user", "password_env"}


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
        poll=parse_interval(str(data["poll"])) if data.get("poll") is not None else None,
        queue_lease=parse_interval(str(data.get("queue_lease", "15s"))),
        public_url=str(data["public_url"]) if data.get("public_url") else None,
        repos=tuple(repos),
        notify=tuple(_alert(item, f"{path}:{':'.join(map(str, located.pos(('notify', index))))}")
                     for index, item in enumerate(data.get("notify") or [])),
        ui_auth=_ui_auth(data.get("ui_auth"), path, located.pos(("ui_auth",))),
        ui_author=_ui_author(data.get("ui_author")),
        insecure_no_auth=bool(data.get("insecure_no_auth", False)),
        broker=_broker(data.get("broker"), f"{path}:{':'.join(map(str, located.pos(('broker',))))}"),
        broker_env=str(data["broker_env"]) if data.get("broker_env") else None,
        max_body=_bytes(data.get("max_body"), MAX_BODY, MAX_BODY * 100, "max_body"),
        max_delivery=_bytes(data.get("max_delivery"), MAX_DELIVERY, MAX_DELIVERY, "max_delivery"),
        pass_env=_names(data.get("pass_env"), f"{path}:{':'.join(map(str, located.pos(('pass_env',))))}"),
        allow_volumes=_flag(data, "allow_volumes"),
        allow_docker_socket=_flag(data, "allow_docker_socket"),
    )


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _names(raw: Any, where: str) -> tuple[str, ...]:
    """pass_env: a list of environment variable names (secrets are not passed this way)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(n, str) and _ENV_NAME.match(n) for n in raw):
        raise UsageError(f"{where}: pass_env must be a list of environment variable names")
    bad = [n for n in raw if n.startswith("SECRET_")]
    if bad:
        raise UsageError(f"{where}: pass_env cannot pass {bad[0]}: secrets reach a step only "
                         "through secret() in the flow, so they stay masked")
    return tuple(raw)


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise UsageError(f"{name} must be true or false, got {value!r}")
    return value


def _bytes(raw: Any, default: int, most: int, name: str) -> int:
    """A body size limit in bytes: a positive whole number up to `most` (the inbox keeps no
    delivery above its own limit, so max_delivery cannot exceed it)."""
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= most:
        raise UsageError(f"{name} must be a number of bytes from 1 to {most}, got {raw!r}")
    return raw


def _broker(raw: Any, where: str) -> str | None:
    """A Redis URL; a password in it belongs in an env var (broker_env), not in the file."""
    if not raw:
        return None
    url = str(raw)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"{where}: broker must be a redis:// (rediss://, unix://) URL, got '{url}'")
    userinfo = url.split("://", 1)[1].partition("/")[0].rpartition("@")[0]
    if ":" in userinfo:
        raise UsageError(f"{where}: the broker URL holds a password; put the URL in an "
                         "environment variable and name it with broker_env")
    return url


def broker_url(config: ServerConfig, flag: str | None, environ: Mapping[str, str]) -> str | None:
    """--broker, else the config's broker, else the URL in its broker_env variable."""
    if flag or config.broker:
        return flag or config.broker
    if config.broker_env:
        if not environ.get(config.broker_env):
            raise UsageError(f"broker_env: environment variable {config.broker_env} is not set")
        return environ[config.broker_env]
    return None


def _ui_author(raw: Any) -> str | None:
    """'Name <email>', checked when the server starts rather than at the first save."""
    if not raw:
        return None
    Identity.parse(str(raw))
    return str(raw)


def _ui_auth(raw: Any, path: Path, pos: tuple[int, int]) -> UiAuth:
    if raw is None:
        return UiAuth()
    if not isinstance(raw, dict) or set(raw) - _UI_AUTH_KEYS:
        raise UsageError(f"{path}:{pos[0]}:{pos[1]}: ui_auth takes "
                         f"{', '.join(sorted(_UI_AUTH_KEYS))} (secrets are named by env var)")
    return UiAuth(**{k: str(v) for k, v in raw.items() if v is not None})


_URL_KEYS = {"url", "format"}
_EMAIL_KEYS = {"to", "from", "host", "port", "strategy", "username_env", "password_env"}


def _alert(raw: Any, where: str) -> Alert:
    """One `notify:` item: a URL, {url, format: json|slack} or {email: {to, from, host, …}}."""
    if isinstance(raw, str):
        return WebhookAlert(raw)
    if isinstance(raw, dict) and set(raw) == {"email"} and isinstance(raw["email"], dict):
        mail = raw["email"]
        bad = set(mail) - _EMAIL_KEYS
        to = mail.get("to")
        recipients = tuple(str(t) for t in (to if isinstance(to, list) else [to] if to else []))
        strategy = str(mail.get("strategy", "SMTP_TLS")).upper()
        if bad or not recipients or not mail.get("from") or not mail.get("host") \
                or strategy not in SMTP_STRATEGIES:
            raise UsageError(f"{where}: an email alert needs to, from and host; strategy is one of "
                             f"{', '.join(SMTP_STRATEGIES)} (known keys: {', '.join(sorted(_EMAIL_KEYS))})")
        return EmailAlert(recipients, str(mail["from"]), str(mail["host"]),
                          int(mail["port"]) if mail.get("port") else None, strategy,
                          mail.get("username_env"), mail.get("password_env"))
    if isinstance(raw, dict) and "url" in raw and not set(raw) - _URL_KEYS:
        form = str(raw.get("format", "json")).lower()
        if form not in FORMATS:
            raise UsageError(f"{where}: format must be {' or '.join(FORMATS)}, got '{form}'")
        return WebhookAlert(str(raw["url"]), form)
    raise UsageError(f"{where}: a notify item is a URL, {{url, format: json|slack}} or "
                     "{email: {to, from, host, port, strategy, username_env, password_env}}")


def parse_interval(text: str) -> float:
    """'60s', '5m', '1h', '90' (seconds) or an ISO-8601 duration (PT1M) → seconds."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if value.startswith("p"):
            seconds = parse_duration(value.upper()).total_seconds()
        elif value[-1:] in units:
            seconds = float(value[:-1]) * units[value[-1]]
        else:
            seconds = float(value)
    except ValueError:
        raise UsageError(f"'{text}' is not an interval such as 60s, 5m or PT1M") from None
    if seconds <= 0:
        raise UsageError(f"the poll interval must be positive, got '{text}'")
    return seconds


def with_overrides(config: ServerConfig, **flags: Any) -> ServerConfig:
    """Flags given on the command line (not None) win over the file."""
    return replace(config, **{k: v for k, v in flags.items() if v is not None})
