"""Kestra's Webhook trigger, served at /api/v1/executions/webhook/{namespace}/{flowId}/{key}.

The key is compared in constant time. Beyond Kestra, a trigger may also require an
HMAC-SHA256 signature of the raw body (GitHub's convention), with a gitflows secret:

    triggers:
      - id: hook
        type: io.kestra.plugin.core.trigger.Webhook
        key: "{{ secret('HOOK_KEY') }}"        # or a literal
        signature:
          secret: HOOK_SIGNING_SECRET          # the name of a secret (SECRET_<NAME>, base64)
          header: X-Hub-Signature-256          # default; value "sha256=<hex>"
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from runner.model import Flow, Trigger
from runner.secrets import Secrets

WEBHOOK = "io.kestra.plugin.core.trigger.Webhook"
_SECRET_KEY = re.compile(r"^\s*\{\{\s*secret\(\s*['\"]([A-Za-z0-9_.-]+)['\"]\s*\)\s*\}\}\s*$")


def _key_of(trigger: Trigger, secrets: Secrets) -> str | None:
    raw = str(trigger.props.get("key", ""))
    named = _SECRET_KEY.match(raw)
    if named:
        return secrets.get(named.group(1))
    return None if "{{" in raw else raw  # other expressions cannot be known before a run


def find_trigger(flow: Flow, key: str, secrets: Secrets) -> Trigger | None:
    """The enabled Webhook trigger of the flow with this key (constant-time compare)."""
    found = None
    for trigger in flow.triggers:
        if trigger.type != WEBHOOK or trigger.disabled:
            continue
        expected = _key_of(trigger, secrets)
        if expected is not None and hmac.compare_digest(expected.encode(), key.encode()):
            found = trigger
    return found


def signature_ok(trigger: Trigger, headers: Mapping[str, str], body: bytes,
                 secrets: Secrets) -> bool:
    """True when the trigger asks for no signature, or the request carries a valid one."""
    spec: Any = trigger.props.get("signature")
    if not spec:
        return True
    secret = secrets.get(str(spec.get("secret", ""))) if isinstance(spec, dict) else None
    if not secret:
        return False  # a signature is required but its secret is not set: refuse
    header = str(spec.get("header", "X-Hub-Signature-256")).lower()
    given = next((v for k, v in headers.items() if k.lower() == header), "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.strip().encode(), expected.encode())
