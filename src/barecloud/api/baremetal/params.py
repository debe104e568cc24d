"""Query-string and version helpers shared by the Bare Metal handlers."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

from barecloud.errors import InvalidParameter, NotAcceptable, NotFound, quote

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


def fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if raw is None:
        return None
    if version(request) < (1, 8):
        raise NotAcceptable("The 'fields' parameter needs API version 1.8 or later.")
    return [f.strip() for f in raw.split(",") if f.strip()]


def integer(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(
            f"Invalid value for {name}: {quote(raw)} is not an integer") from None


def limit(request: Request) -> int | None:
    """The ``limit`` of a list request: absent, or a positive integer (as Ironic's)."""
    value = integer(request, "limit")
    if value is not None and value <= 0:
        raise InvalidParameter(f"Limit must be positive: {value}")
    return value


def boolean(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on", "t", "y"):
        return True
    if value in ("false", "0", "no", "off", "f", "n"):
        return False
    raise InvalidParameter(f"Invalid value for {name}: {quote(raw)} is not a boolean")


def next_link(request: Request, kind: str, marker: str) -> str:
    params = dict(request.query_params)
    params["marker"] = marker
    query = urlencode(params)
    host = request.headers.get("host") or request.url.netloc
    return f"{request.url.scheme}://{host}/baremetal/v1/{kind}?{query}"
