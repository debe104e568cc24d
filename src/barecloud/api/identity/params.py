"""What the Identity handlers share: the v3 base URL and query parameters."""

from __future__ import annotations

from fastapi import Request

from barecloud.api.common import base_url
from barecloud.services.identity import validate


def v3(request: Request) -> str:
    return f"{base_url(request)}/identity/v3"


def self_url(request: Request) -> str:
    return f"{base_url(request)}{request.url.path}"


def query(request: Request, name: str) -> str | None:
    """A query parameter the handler's ``@accepts(query=...)`` declared."""
    value: str | None = request.state.query.get(name)
    return value


def flag(request: Request, name: str) -> bool | None:
    return validate.query_bool(query(request, name))
