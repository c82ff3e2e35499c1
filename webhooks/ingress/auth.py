"""Who may call the UI and API, and cross-site request forgery (CSRF) protection: one check
that runs before every request (Gate.check), without flask.

- Authentication, when configured: a bearer token (`Authorization: Bearer …`, from
  $GITFLOWS_UI_TOKEN or the variable `ui_auth.token_env` names) and/or basic auth (the user
  `ui_auth.user` / $GITFLOWS_UI_USER with the password in $GITFLOWS_UI_PASSWORD or
  `ui_auth.password_env`). With a token, basic auth with the token as password (any user)
  is accepted too, so the browser's own login prompt opens the UI. Compared in constant time.
- Exempt: /healthz and the webhook endpoints (/hooks/<provider>,
  /api/v1/executions/webhook/<namespace>/<flow_id>/<key>), which check their own signatures
  or keys. Decided by the URL rule the router matched, never by a path prefix: a POST to
  /api/v1/executions/webhook/<flow> starts flow <flow> of namespace `webhook`, which is not
  exempt.
- A blank token, password or user (only whitespace) is refused when the server starts, and a
  presented blank password never counts.
- CSRF: a POST/PUT/PATCH/DELETE from a browser (it has an Origin or Sec-Fetch-* header,
  which browsers always send on such requests) needs the bearer token or the header
  `X-Gitflows-Request: 1` (a cross-site form can send neither; basic credentials do not
  count, since a browser attaches them on its own), and an Origin naming this server.
  Other clients (curl, scripts, Kestra API clients) need neither: a forged request can only
  come from a browser.
- Without auth the server listens on loopback only (`flows serve` refuses anything else
  unless --insecure-no-auth), and then the Host header must name a loopback host (or
  public_url's): a web page cannot reach the API through DNS rebinding.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.errors import UsageError
from webhooks.config import ServerConfig

# Flask URL rules of the routes that check their own signatures or keys (webhooks/app.py)
HEALTHZ_RULE = "/healthz"
HOOKS_RULE = "/hooks/<provider>"
WEBHOOK_RULE = "/api/v1/executions/webhook/<namespace>/<flow_id>/<key>"
EXEMPT_RULES = frozenset({HEALTHZ_RULE, HOOKS_RULE, WEBHOOK_RULE})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-gitflows-request"
BROWSER_HEADERS = ("origin", "sec-fetch-site", "sec-fetch-mode")  # on every browser write
_SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    user: str | None = None
    password: str | None = None

    @property
    def basic(self) -> bool:
        return bool(self.user and self.password)

    @property
    def configured(self) -> bool:
        return bool(self.token) or self.basic


def credentials(config: ServerConfig, environ: Mapping[str, str]) -> Credentials:
    """The configured credentials; UsageError for a blank one (it would let anyone in who
    sends a blank password) or a token a bearer header cannot carry."""
    auth = config.ui_auth
    token = _setting(environ.get(auth.token_env), f"${auth.token_env}")
    if token is not None and any(c.isspace() for c in token):
        raise UsageError(f"${auth.token_env} holds whitespace: a bearer token cannot carry it "
                         "(a trailing newline from a file?); set it without")
    return Credentials(
        token=token,
        user=_setting(auth.user or environ.get("GITFLOWS_UI_USER"), "ui_auth.user"),
        password=_setting(environ.get(auth.password_env), f"${auth.password_env}"))


def _setting(value: str | None, name: str) -> str | None:
    """None when unset or empty (no such credential); refused when only whitespace."""
    if not value:
        return None
    if not value.strip():
        raise UsageError(f"{name} is blank (only whitespace): set a real value, or leave it "
                         "empty for none")
    return value


def exempt(rule: str | None) -> bool:
    """Whether the route of this URL rule skips authentication and CSRF (None: no route)."""
    return rule in EXEMPT_RULES


def rule_of(path: str) -> str | None:
    """The exempt rule a path matches segment by segment, as Flask's default converter does
    (a <part> is one non-empty segment without '/'); for callers without a router. Leading
    slashes count as one, as werkzeug's router reads `//healthz` as `/healthz`."""
    parts = ("/" + path.lstrip("/")).split("/")
    for rule in EXEMPT_RULES:
        pattern = rule.split("/")
        if len(pattern) == len(parts) and all(
                (p.startswith("<") and p.endswith(">") and s != "") or p == s
                for p, s in zip(pattern, parts, strict=True)):
            return rule
    return None


# -- the Authorization header ----------------------------------------------------------------
def parse_authorization(header: str | None) -> tuple[str, str] | None:
    """'Scheme credentials' → (scheme in lower case, credentials); None when malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not _SCHEME.fullmatch(scheme) or not value or any(c.isspace() for c in value):
        return None
    return scheme.lower(), value


def bearer_token(header: str | None) -> str | None:
    parsed = parse_authorization(header)
    return parsed[1] if parsed is not None and parsed[0] == "bearer" else None


def basic_pair(header: str | None) -> tuple[str, str] | None:
    """(user, password) of `Basic base64(user:password)`; None when malformed."""
    parsed = parse_authorization(header)
    if parsed is None or parsed[0] != "basic":
        return None
    try:
        text = base64.b64decode(parsed[1], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def _same(given: str, expected: str | None) -> bool:
    """Constant-time comparison (no early exit on the first differing byte); a blank value
    never matches, whatever is configured."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               (expected or "").encode("utf-8", "surrogateescape")) \
        and expected is not None and given.strip() != ""


# -- hosts ------------------------------------------------------------------------------------
def hostname(hostport: str) -> str:
    """'example.org:8080' / '[::1]:8080' / '127.0.0.1' → the host part, lower case."""
    text = hostport.strip().lower()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text[1:]
    return text if text.count(":") > 1 else text.split(":", 1)[0]  # a bare IPv6 address


def is_loopback(host: str) -> bool:
    """localhost, *.localhost, 127.0.0.0/8 or ::1 (a port may follow)."""
    name = hostname(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_auth_when_exposed(config: ServerConfig, environ: Mapping[str, str]) -> None:
    """`flows serve` on anything but loopback without auth: refuse (unless told otherwise);
    a blank credential is refused wherever it listens."""
    configured = credentials(config, environ).configured
    if is_loopback(config.host) or config.insecure_no_auth or configured:
        return
    raise UsageError(
        f"refusing to listen on {config.host} without authentication: anyone who reaches it "
        f"could run and edit flows. Set {config.ui_auth.token_env} (a bearer token, e.g. "
        "`openssl rand -hex 32`) or a user and password (ui_auth in the config), or pass "
        "--insecure-no-auth when a proxy in front of it authenticates")


def _origin(value: str) -> tuple[str, str] | None:
    """(scheme, host[:port] without the scheme's default port) of an Origin / URL."""
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None
    return parts.scheme, _strip_port(parts.netloc.lower(), parts.scheme)


def _strip_port(netloc: str, scheme: str) -> str:
    suffix = f":{_DEFAULT_PORTS[scheme]}"
    return netloc[:-len(suffix)] if netloc.endswith(suffix) else netloc


@dataclass(frozen=True)
class Denied:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class Gate:
    """The check before every request; Gate(...) itself refuses an exposed server without auth."""

    def __init__(self, config: ServerConfig, environ: Mapping[str, str]) -> None:
        require_auth_when_exposed(config, environ)
        self.credentials = credentials(config, environ)
        self.public = _origin(config.public_url) if config.public_url else None
        # no auth on loopback: the only protection left against DNS rebinding is the Host
        self.check_host = not self.credentials.configured and is_loopback(config.host)

    def authenticated(self, header: str | None) -> tuple[bool, bool]:
        """(authenticated, by the bearer token) for an Authorization header."""
        creds = self.credentials
        token = bearer_token(header)
        if token is not None:
            ok = creds.token is not None and _same(token, creds.token)
            return ok, ok
        pair = basic_pair(header)
        if pair is None:
            return False, False
        user, password = pair
        as_user = creds.basic & _same(user, creds.user) & _same(password, creds.password)
        as_token = creds.token is not None and _same(password, creds.token)
        return as_user or as_token, False

    def check(self, method: str, path: str, headers: Mapping[str, str], host: str,
              rule: str | None = None) -> Denied | None:
        """None when the request may go on; headers are keyed in lower case. `rule` is the URL
        rule the router matched ('' when none did); without one the path is matched against
        the exempt rules."""
        if exempt(rule_of(path) if rule is None else rule):
            return None
        if self.check_host and not is_loopback(host) and \
                not (self.public is not None and _strip_port(host.lower(), self.public[0])
                     == self.public[1]):
            return Denied(403, f"host {host} is not this server's (a loopback address, or "
                               "public_url); set public_url, or configure authentication")
        by_token = False
        if self.credentials.configured:
            ok, by_token = self.authenticated(headers.get("authorization"))
            if not ok:
                return Denied(401, "authentication required (a bearer token, or user and password)",
                              {"WWW-Authenticate": 'Basic realm="gitflows", charset="UTF-8"'})
        if method.upper() not in UNSAFE_METHODS:
            return None
        from_browser = any(name in headers for name in BROWSER_HEADERS)
        if from_browser and not by_token and headers.get(CSRF_HEADER, "").strip() != "1":
            return Denied(403, "state-changing requests need the header X-Gitflows-Request: 1 "
                               "(or a bearer token): a cross-site form cannot send it")
        origin = headers.get("origin")
        if origin is not None and not self._own(origin, host):
            return Denied(403, f"Origin {origin} is not this server; cross-site requests are "
                               "refused")
        return None

    def _own(self, origin: str, host: str) -> bool:
        parsed = _origin(origin)
        if parsed is None:
            return False
        return parsed[1] == _strip_port(host.lower(), parsed[0]) or parsed == self.public
