"""Query-string and version helpers shared by the Bare Metal handlers.

The query string is read as declared (``@accepts(query=...)``): ``query`` is
the checked document, its values already of their declared types.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from barecloud.errors import MethodNotAllowed, NotAcceptable, NotFound

V = tuple[int, int]


def version(request: Request) -> V:
    v: V = getattr(request.state, "bm_version", (1, 1))
    return v


def require(request: Request, minimum: V) -> V:
    """Endpoints newer than the requested version do not exist for that client."""
    v = version(request)
    if v < minimum:
        raise NotFound("The resource could not be found.")
    return v


def require_write(request: Request, minimum: V) -> V:
    """As Ironic's controllers: a write to a resource newer than the requested
    version is 405 (its reads are 404)."""
    v = version(request)
    if v < minimum:
        raise MethodNotAllowed(f"The method {request.method} is not allowed before API "
                               f"version {minimum[0]}.{minimum[1]}.")
    return v


def require_acceptable(request: Request, minimum: V) -> V:
    """As Ironic's ``NotAcceptable`` gates (node traits list, RAID): 406."""
    v = version(request)
    if v < minimum:
        raise NotAcceptable(f"Request not acceptable: needs API version "
                            f"{minimum[0]}.{minimum[1]} or later.")
    return v


def query(request: Request) -> dict[str, Any]:
    """The query string as its declaration read it (api/accepts.py)."""
    checked: dict[str, Any] = getattr(request.state, "query", {})
    return checked


def fields(request: Request) -> list[str] | None:
    raw = query(request).get("fields")
    if raw is None:
        return None
    if version(request) < (1, 8):
        raise NotAcceptable("The 'fields' parameter needs API version 1.8 or later.")
    return [f.strip() for f in raw.split(",") if f.strip()]


def next_link(request: Request, kind: str, marker: str) -> str:
    params = dict(request.query_params)
    params["marker"] = marker
    encoded = urlencode(params)
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}/baremetal/v1/{kind}?{encoded}"
