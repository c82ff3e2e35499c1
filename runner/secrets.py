"""Secrets for `secret('NAME')`: Kestra's SECRET_<NAME> environment variables (base64),
or a secrets file (a JSON object of name → value). Values are masked in every log line."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from runner.errors import UsageError

MASK = "******"


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


def masked(value: Any, secrets: Collection[str]) -> Any:
    """value (JSON-like) with every secret value inside its strings replaced by MASK."""
    if isinstance(value, str):
        for secret in sorted((s for s in secrets if s), key=len, reverse=True):
            value = value.replace(secret, MASK)
        return value
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
