"""GitHub App authentication: an RS256 JWT signed with the app's private key, traded
for installation access tokens that are cached and renewed before they expire.

RS256 needs RSA; rather than a new dependency (`cryptography` is not installed),
the signature is made by the `openssl` command line tool. The key reaches it
through a pipe, never a file on disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner.events import Clock, SystemClock
from runner.http import HttpError, Transport

GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
JWT_LIFETIME = dt.timedelta(minutes=9)  # GitHub refuses more than 10 minutes
JWT_BACKDATE = dt.timedelta(seconds=60)  # allow for clock drift, as GitHub advises
REFRESH_MARGIN = dt.timedelta(minutes=5)


class AppAuthError(Exception):
    """The app could not authenticate (bad key, openssl missing, token refused)."""


@dataclass(frozen=True)
class AppCredentials:
    app_id: str
    private_key_pem: str = field(repr=False)
    installation_id: int | None = None  # looked up per repository when not given

    @classmethod
    def load(cls, app_id: str | int, *, key_file: str | Path | None = None,
             key_env: str | None = None, environ: Mapping[str, str] | None = None,
             installation_id: int | None = None) -> AppCredentials:
        """The private key PEM from a file, or from an environment variable."""
        env = os.environ if environ is None else environ
        if key_file is not None:
            try:
                pem = Path(key_file).read_text(encoding="utf-8")
            except OSError as err:
                raise AppAuthError(f"GitHub App key file {key_file}: {err.strerror}") from None
        elif key_env is not None and env.get(key_env):
            pem = env[key_env]
        else:
            raise AppAuthError("a GitHub App needs its private key (a file or an env variable)")
        if "PRIVATE KEY-----" not in pem:
            raise AppAuthError("the GitHub App private key is not a PEM private key")
        return cls(str(app_id), pem, installation_id)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_rs256(message: bytes, private_key_pem: str) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256, by `openssl dgst -sha256 -sign`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise AppAuthError("signing a GitHub App JWT needs the openssl command")
    read_end, write_end = os.pipe()
    try:
        key = private_key_pem.encode("utf-8")
        if len(key) > 60_000:  # a pipe holds 64 KiB; an RSA key PEM is a few KiB
            raise AppAuthError("the GitHub App private key is too large")
        os.write(write_end, key)
        os.close(write_end)
        write_end = -1
        result = subprocess.run([openssl, "dgst", "-sha256", "-sign", f"/dev/fd/{read_end}"],
                                input=message, capture_output=True, pass_fds=(read_end,),
                                timeout=30, check=False)
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)
    if result.returncode != 0 or not result.stdout:
        first = result.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        raise AppAuthError(f"openssl could not sign the JWT: {first[0] if first else 'no output'}")
    return result.stdout


def app_jwt(app_id: str, private_key_pem: str, now: dt.datetime) -> str:
    header = {"alg": "RS256", "typ": "JWT"}
    issued = int((now - JWT_BACKDATE).timestamp())
    payload = {"iat": issued, "exp": int((now + JWT_LIFETIME).timestamp()), "iss": app_id}
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode())
                             for part in (header, payload))
    signature = sign_rs256(signing_input.encode("ascii"), private_key_pem)
    return f"{signing_input}.{_b64url(signature)}"


def github_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION}


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: dt.datetime


class GitHubApp:
    """One per app and API; shared by the runs (thread-safe token cache)."""

    def __init__(self, credentials: AppCredentials, api_url: str | None = None, *,
                 transport: Transport | None = None, clock: Clock | None = None,
                 refresh_margin: dt.timedelta = REFRESH_MARGIN) -> None:
        self.credentials = credentials
        self.api_url = (api_url or GITHUB_API).rstrip("/")
        self.transport = transport or Transport()
        self.clock = clock or SystemClock()
        self.refresh_margin = refresh_margin
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, InstallationToken] = {}

    def jwt(self) -> str:
        return app_jwt(self.credentials.app_id, self.credentials.private_key_pem, self.clock.now())

    def installation_id(self, repo: str) -> int:
        """The configured installation, or the one installed on `repo` (owner/name)."""
        if self.credentials.installation_id is not None:
            return self.credentials.installation_id
        with self._lock:
            known = self._installations.get(repo.lower())
        if known is not None:
            return known
        jwt = self.jwt()
        try:
            answer = self.transport.request(
                "GET", f"{self.api_url}/repos/{_quote_repo(repo)}/installation",
                headers=github_headers(jwt), secrets=(jwt,))
        except HttpError as err:
            raise AppAuthError(f"no installation of the app found for {repo}: {err}") from None
        try:
            found = int(answer.body["id"])
        except (TypeError, KeyError, ValueError):
            raise AppAuthError(f"no installation id in the answer for {repo}") from None
        with self._lock:
            self._installations[repo.lower()] = found
        return found

    def token(self, repo: str) -> str:
        """An installation access token valid for at least the refresh margin."""
        installation = self.installation_id(repo)
        with self._lock:
            cached = self._tokens.get(installation)
            if cached is not None and cached.expires_at - self.refresh_margin > self.clock.now():
                return cached.token
            fresh = self._new_token(installation)
            self._tokens[installation] = fresh
            return fresh.token

    def _new_token(self, installation: int) -> InstallationToken:
        jwt = self.jwt()
        try:
            answer = self.transport.request(
                "POST", f"{self.api_url}/app/installations/{installation}/access_tokens",
                {}, headers=github_headers(jwt), secrets=(jwt,))
        except HttpError as err:
            raise AppAuthError(f"installation token refused: {err}") from None
        body = answer.body if isinstance(answer.body, dict) else {}
        token, expires = body.get("token"), body.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires, str):
            raise AppAuthError("the installation token answer has no token or expires_at")
        try:
            expires_at = dt.datetime.fromisoformat(expires)
        except ValueError:
            raise AppAuthError(f"unreadable expires_at {expires!r}") from None
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        return InstallationToken(token, expires_at)


def _quote_repo(repo: str) -> str:
    owner, _, name = repo.partition("/")
    return f"{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"
