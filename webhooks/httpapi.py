"""Flask-free shapes of an HTTP call and its answer, so route handlers outside webhooks/app.py
(the one module that imports flask) stay plain functions that tests can call directly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    params: Mapping[str, str]  # the parts of the URL rule, e.g. namespace, flow_id
    args: Mapping[str, str]  # the query string (first value of each name)
    body: Any  # the JSON body, or None when there is none or it is not JSON
    headers: Mapping[str, str]  # names in lower case


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # a Flask URL rule, e.g. /api/v1/flows/<namespace>/<flow_id>
    name: str  # the endpoint name, unique in the app
    handler: Callable[[Call], Reply]


def error(status: int, message: str, **extra: Any) -> Reply:
    """Errors answer {"message": …} like every other endpoint, with details beside it."""
    return Reply(status, {"message": message, **extra})
