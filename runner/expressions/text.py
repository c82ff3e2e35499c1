"""Whether a string is a template at all: the one check that needs nothing else loaded."""

from __future__ import annotations


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text
