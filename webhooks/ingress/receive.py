"""Receiving a webhook delivery: `receive` is what the /hooks/<forge> route does.

`receive(route, headers, body, inbox, secret_for)` runs the whole HTTP contract without
any web framework and says which status to answer: 413 (too large), 401 (bad or missing
signature, or no secret configured), 400 (verified but not a JSON payload / no event
header), 202 (stored in the durable inbox, a duplicate acknowledged, or ignored). The
signature is always checked before anything about the body is answered; a body that names
no repository (not JSON, an organisation's ping) is checked against each secret configured
for the forge (`candidates`), so a signed but malformed delivery gets its 400.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runner import forges
from runner.forges.base import PayloadError, lower, parse_payload
from runner.forges.event import Event, Ignored
from webhooks.ingress.inbox import MAX_BODY, Delivery, Inbox

__all__ = ["Reception", "RepoSecret", "SecretCandidates", "SecretLookup", "config_candidates",
           "config_secrets", "normalise_delivery", "receive"]


@dataclass(frozen=True)
class RepoSecret:
    """What to check a repository's deliveries with. No secret refuses every delivery,
    unless the repository is explicitly configured as unsigned."""

    secret: bytes | None = None
    unsigned: bool = False


# (provider name, repository full name claimed by the payload or None) → its secret
SecretLookup = Callable[[str, str | None], RepoSecret]
# provider name → every secret configured for its repositories (for bodies naming none)
SecretCandidates = Callable[[str], Collection[bytes]]


def config_secrets(repos: Collection[Any], environ: Mapping[str, str], *,
                   unsigned: Collection[str] = ()) -> SecretLookup:
    """A SecretLookup over `ServerConfig.repos` (objects with name, provider and
    webhook_secret_env). A repository matches by name, case-insensitively, and only for its
    own provider; its secret is the environment variable webhook_secret_env names.
    `unsigned` names repositories explicitly allowed to send unsigned deliveries."""
    allowed = {name.lower() for name in unsigned}

    def lookup(provider: str, repo: str | None) -> RepoSecret:
        if repo is None:
            return RepoSecret()
        for config in repos:
            if str(config.name).lower() != repo.lower():
                continue
            if _provider_of(config) != provider:
                return RepoSecret()
            return RepoSecret(_secret_of(config, environ), repo.lower() in allowed)
        return RepoSecret()

    return lookup


def config_candidates(repos: Collection[Any], environ: Mapping[str, str]) -> SecretCandidates:
    """A SecretCandidates over `ServerConfig.repos`: the set webhook secrets of a provider's
    repositories."""

    def candidates(provider: str) -> Collection[bytes]:
        found = (_secret_of(config, environ) for config in repos if _provider_of(config) == provider)
        return [secret for secret in found if secret]

    return candidates


def _provider_of(config: Any) -> str:
    """A configured repository's provider, by the name its deliveries are received under."""
    return forges.config_name(str(config.provider))


def _secret_of(config: Any, environ: Mapping[str, str]) -> bytes | None:
    """Its webhook secret: the variable webhook_secret_env names (None when unset or empty)."""
    env = config.webhook_secret_env
    return (environ.get(env, "") if env else "").encode("utf-8") or None


@dataclass(frozen=True)
class Reception:
    """What to answer a webhook delivery, and what to log about it."""

    status: int  # 202, 400, 401, 404 (unknown provider) or 413
    message: str  # safe to send back
    provider: str | None = None
    delivery_id: str | None = None
    stored: bool = False  # True: new in the inbox; False with 202: duplicate or ignored
    duplicate: bool = False
    event: Event | Ignored | None = None
    detail: str = ""  # for the server log only (may name configuration)

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message}
        if self.status == 202:
            data.update(provider=self.provider, delivery=self.delivery_id, stored=self.stored,
                        duplicate=self.duplicate)
            if isinstance(self.event, Ignored):
                data["ignored"] = self.event.reason
        return data


def receive(route: str, headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes,
            inbox: Inbox, secret_for: SecretLookup,
            candidates: SecretCandidates | None = None) -> Reception:
    """Check and store one delivery posted to /hooks/<route>. `headers` may be a mapping or
    the (name, value) pairs of a framework's header object (werkzeug's `request.headers`).
    Raises only what the inbox raises when its database stays locked
    (InboxUnavailableError: answer 503)."""
    # lower-cased once: every check below reads them by lower-case name
    headers = lower(headers if isinstance(headers, Mapping) else dict(headers))
    provider = forges.resolve(route, headers)
    if provider is None:
        return Reception(404, f"no webhook provider named '{route}'")
    if len(body) > MAX_BODY:
        return Reception(413, f"request body larger than {MAX_BODY} bytes", provider.name)
    try:
        payload: dict[str, Any] | None = parse_payload(headers, body)
        problem = ""
    except PayloadError as err:
        payload, problem = None, str(err)
    repo = provider.repo_name(payload) if payload is not None else None
    secret = secret_for(provider.name, repo)
    verified = provider.verify(headers, body, secret.secret, allow_unsigned=secret.unsigned)
    if not verified and repo is None and candidates is not None:
        # whose secret signed it cannot be told from the body: any configured one proves the
        # sender holds it (each is checked, no short cut); never unsigned without a repository
        results = [provider.verify(headers, body, key) for key in candidates(provider.name) if key]
        verified = any(results)
    if not verified:
        why = ("no webhook secret configured" if not secret.secret and not secret.unsigned
               else "signature does not match")
        return Reception(401, "signature missing or invalid", provider.name,
                         detail=f"{provider.name} delivery for {repo or 'an unknown repository'}: {why}")
    if payload is None:
        return Reception(400, problem, provider.name, detail=problem)
    if not provider.event_name(headers):
        return Reception(400, f"no {provider.name} event header", provider.name)
    delivery_id = provider.delivery_id(headers, body)
    event = provider.normalise(headers, body)
    if isinstance(event, Ignored):
        return Reception(202, "ignored", provider.name, delivery_id, event=event, detail=event.reason)
    subset = {name: headers[name] for name in provider.stored_headers if name in headers}
    stored = inbox.accept(provider.name, delivery_id, subset, body)
    return Reception(202, "accepted" if stored else "duplicate delivery, already accepted",
                     provider.name, delivery_id, stored=stored, duplicate=not stored, event=event,
                     detail=f"{event.kind} for {event.repo}")


def normalise_delivery(delivery: Delivery) -> Event | Ignored:
    """The event of a delivery claimed from the inbox (normalised again from the stored body)."""
    provider = forges.get(delivery.provider)
    if provider is None:
        return Ignored(f"no webhook provider named '{delivery.provider}'")
    return provider.normalise(delivery.headers, delivery.body)
