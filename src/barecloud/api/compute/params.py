"""Versions, links and query parameters shared by the Compute handlers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from barecloud.api.common import base_url
from barecloud.api.compute import microversion
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services.validation import spelled_bool

V = tuple[int, int]


def version(request: Request) -> V:
    v: V = getattr(request.state, "compute_version", microversion.MIN)
    return v


def require(request: Request, minimum: V) -> V:
    """An API newer than the requested version: Nova's 404 for that method."""
    v = version(request)
    if v < minimum:
        raise NotFound(f"API version {microversion.fmt(v)} is not supported on this method.")
    return v


def root(request: Request) -> str:
    """``<base>/compute/v2.1`` (or ``/compute/v2`` for the legacy API)."""
    prefix = "/compute/v2.1" if request.url.path.startswith("/compute/v2.1") else "/compute/v2"
    return base_url(request) + prefix


def bookmark(request: Request) -> str:
    return base_url(request) + "/compute"


def links(request: Request, kind: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{root(request)}/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{bookmark(request)}/{kind}/{ident}"}]


def query(request: Request) -> dict[str, Any]:
    """The query string as its declaration read it (``@accepts(query=...)``)."""
    checked: dict[str, Any] = getattr(request.state, "query", None) or {}
    return checked


def limit(request: Request) -> int | None:
    """``limit``, declared a non-negative integer (schemas.LIMIT)."""
    value: int | None = query(request).get("limit")
    return value


def next_links(request: Request, kind: str, items: list[Any], marker: str,
               limit: int | None, cap: int) -> list[dict[str, str]] | None:
    """Nova's ``<kind>_links``: a ``next`` link when the page is full."""
    size = cap if limit is None else min(limit, cap)
    if not items or len(items) < size:
        return None
    params = dict(request.query_params)
    params["marker"] = marker
    return [{"rel": "next", "href": f"{root(request)}/{kind}?{urlencode(params)}"}]


def query_bool(name: str, raw: str) -> bool:
    """A boolean query parameter Nova reads by hand (``all_tenants``, ``is_public``)."""
    read = spelled_bool(raw)
    if read is not None:
        return read
    raise InvalidParameter(f"Invalid value '{raw}' for {name}: not a boolean")
