"""The one Reservation microversion, 1.0, and the ``.json`` suffix Blazar accepts.

Blazar (blazar/api/v1/utils.py) checks ``OpenStack-API-Version: reservation
X.Y`` on every v1 request: a malformed version is a 400, any but 1.0 (or
``latest``) a 406; every answer says ``reservation 1.0`` and varies on the
header.  Every v1 route also answers with ``.json`` appended, so the suffix is
dropped here, before routing, rather than doubling each route.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from barecloud.api.common import with_headers
from barecloud.api.reservation.errors import error_response

PREFIX = "/reservation/v1"
VERSION = "1.0"
HEADERS = {"OpenStack-API-Version": f"reservation {VERSION}",
           "Vary": "OpenStack-API-Version"}
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


def requested(headers: Headers) -> str | None:
    """The version asked for ``reservation``, if any (other services' are ignored)."""
    for value in headers.getlist("OpenStack-API-Version"):
        for item in value.split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == "reservation":
                return parts[1]
    return None


def refusal(raw: str | None) -> tuple[int, str, str] | None:
    """(status, message, error name) if ``raw`` cannot be served, else None."""
    if raw is None or raw.lower() == "latest":
        return None
    if not _VERSION_RE.match(raw):
        return (400, f"API Version String {raw} is of invalid format. Must be of format "
                     "MajorNum.MinorNum.", "BAD_REQUEST")
    if raw != VERSION:
        return (406, f"Version {raw} is not supported by the API. Minimum is {VERSION} and "
                     f"maximum is {VERSION}.", "NOT_ACCEPTABLE")
    return None


class BlazarVersions:
    """ASGI middleware for /reservation/v1: version check, headers, ``.json``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        if path.endswith(".json"):
            scope = {**scope, "path": path.removesuffix(".json")}
        refused = refusal(requested(Headers(scope=scope)))
        if refused:
            status, message, name = refused
            await error_response(status, message, HEADERS, name)(scope, receive, send)
            return

        await self.app(scope, receive, with_headers(send, HEADERS))
