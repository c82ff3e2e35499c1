"""Secrets for `secret('NAME')`: Kestra's SECRET_<NAME> environment variables (base64),
or a secrets file (a JSON object of name → value). Values are masked wherever they leave
the engine, in their common encoded forms too (variants())."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from runner.errors import UsageError

MASK = "******"
# credentials written into connection strings: scheme://user:PASSWORD@host, password=…
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)")
_PASSWORD_PARAM = re.compile(r"(?i)(?P<head>password=)[^&\s]+")


class Secrets:
    def __init__(self, environ: Mapping[str, str], file: Path | None = None) -> None:
        self.values: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("SECRET_") and len(key) > 7:
                try:
                    decoded = base64.b64decode(value, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    raise UsageError(f"environment variable {key} must hold a base64 value "
                                     "(Kestra's convention: base64-encode secrets)") from None
                self.values[key[7:]] = decoded
        if file is not None:
            try:
                loaded = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise UsageError(f"secrets file {file}: {err}") from None
            if not isinstance(loaded, dict):
                raise UsageError(f"secrets file {file}: expected a JSON object of name → value")
            self.values.update({str(k): str(v) for k, v in loaded.items()})

    def get(self, name: str) -> str | None:
        return self.values.get(name)


MIN_VARIANT = 4  # shorter fragments (a line of a key, an encoded edge) are too common to mask


def _base64_forms(secret: bytes) -> set[str]:
    """The base64 text of secret wherever it sits in a longer encoded value: for each of the
    three alignments, the characters that depend on the secret's bytes alone."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        inner = encoded[-(-8 * offset // 6):(8 * (offset + len(secret))) // 6]
        forms |= {inner, inner.translate(str.maketrans("+/", "-_"))}
    return forms


def variants(secret: str) -> set[str]:
    """What a secret looks like after the transforms a step or an expression applies most:
    itself, each line of a multi-line secret, its base64 (any alignment, standard and URL
    alphabets), URL-encoded and JSON-escaped forms."""
    found = {secret}
    found |= {line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_VARIANT}
    data = secret.encode("utf-8")
    found |= _base64_forms(data)
    found |= {quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
              json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {f for f in found if f == secret or len(f) >= MIN_VARIANT}


@lru_cache(maxsize=256)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    forms = {f for s in secrets if s for f in variants(s)}
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def mask_text(text: str, secrets: Collection[str]) -> str:
    """text with every secret value (in the forms variants() lists) replaced by MASK: the one
    masking function, for logs, errors, statuses, alerts and HTTP answers alike."""
    pattern = _pattern(frozenset(s for s in secrets if s))
    return text if pattern is None else pattern.sub(MASK, text)


def hide_credentials(text: str) -> str:
    """text with the passwords of connection strings replaced by MASK (a URL's user:password@,
    a password= parameter): for values that are not registered secrets."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _PASSWORD_PARAM.sub(lambda m: m.group("head") + MASK, text)


def masked(value: Any, secrets: Collection[str]) -> Any:
    """value (JSON-like) with every secret value inside its strings replaced by MASK, in the
    forms variants() lists (keys are kept: they give the shape, not the values)."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {str(k): masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v, secrets) for v in value]
    return value if value is None or isinstance(value, bool | int | float) else masked(str(value), secrets)


def has_mask(value: Any) -> bool:
    """Whether a recorded value had a secret masked in it (it cannot be used again)."""
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, Mapping):
        return any(has_mask(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_mask(v) for v in value)
    return False
