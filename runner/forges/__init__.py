"""The forges: GitHub, Gitea/Forgejo, GitLab and a plain git server ("generic"). The one list.

    forge = forges.get("github")                    # or detect(headers)
    forge.verify(headers, body, secret)             # bool, never raises
    forge.normalise(headers, body)                  # Event | Ignored, never raises

Each forge is one module here (verify, normalise); `status.py` speaks their commit-status
APIs. Adding a forge: its module, and its PROVIDER in the tuple below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from runner.forges import generic, gitea, github, gitlab
from runner.forges.base import Provider
from runner.forges.event import Event

__all__ = ["DETECTION_ORDER", "NAMES", "PROVIDERS", "Provider", "config_name", "detect", "dumps",
           "get", "resolve"]

PROVIDERS: dict[str, Provider] = {p.name: p for p in (github.PROVIDER, gitea.PROVIDER,
                                                      gitlab.PROVIDER, generic.PROVIDER)}
ALIASES = {"forgejo": "gitea"}
# `provider:` values of the server configuration → provider names ("none": a plain git server)
CONFIG_ALIASES = {**ALIASES, "none": "generic"}
# Gitea/Forgejo also send X-GitHub-* headers: they must be recognised before GitHub.
DETECTION_ORDER: tuple[Provider, ...] = (gitea.PROVIDER, gitlab.PROVIDER, github.PROVIDER)
DEFAULT = github.PROVIDER.name  # assumed when nothing says which forge (`flows ci` outside any CI)
# the forges a commit status can be reported to (a plain git server has no status API)
NAMES: tuple[str, ...] = tuple(name for name, p in PROVIDERS.items() if p.reports_status)


def get(name: str) -> Provider | None:
    """The provider registered under a name (github, gitea, forgejo, gitlab, generic)."""
    return PROVIDERS.get(ALIASES.get(name.lower(), name.lower()))


def detect(headers: Mapping[str, str]) -> Provider | None:
    """The provider the headers identify, Gitea/Forgejo first; None when none does."""
    for provider in DETECTION_ORDER:
        if provider.matches(headers):
            return provider
    return None


def resolve(route: str, headers: Mapping[str, str]) -> Provider | None:
    """The provider that handles a delivery posted to /hooks/<route>: the route's, except
    that a Gitea/Forgejo delivery sent to /hooks/github is handled (and verified) as Gitea."""
    provider = get(route)
    if provider is not None and provider.name == github.PROVIDER.name and gitea.PROVIDER.matches(headers):
        return gitea.PROVIDER
    return provider


def dumps(event: Event) -> str:
    """An event as one JSON line (for logs and trigger variables)."""
    return json.dumps(event.as_dict(), sort_keys=True)


def config_name(configured: str) -> str:
    """The forge a configuration's `provider:` value names (forgejo → gitea, none → generic)."""
    return CONFIG_ALIASES.get(configured.lower(), configured.lower())
