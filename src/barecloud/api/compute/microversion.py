"""Compute API microversions: negotiation, and the headers on every answer.

MAX is 2.96: the server fields of every version up to it are rendered
(2.47 embedded flavor, 2.90 hostname, 2.96 pinned_availability_zone), and
openstacksdk and openstackclient negotiate their newest behaviour below it.
``/compute/v2`` is the legacy API: 2.1's behaviour, no version headers.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from barecloud.api.common import with_headers
from barecloud.api.compute.errors import error_response
from barecloud.errors import InvalidParameter, NotAcceptable

V = tuple[int, int]
MIN: V = (2, 1)
MAX: V = (2, 96)
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
PREFIX = "/compute/v2.1"
LEGACY_PREFIX = "/compute/v2"
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


def fmt(v: V) -> str:
    return f"{v[0]}.{v[1]}"


def _requested(headers: Headers) -> str | None:
    for value in headers.getlist("OpenStack-API-Version"):
        for item in value.split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == "compute":
                return parts[1]
    return headers.get(LEGACY_HEADER)


def parse_request(headers: Headers) -> V:
    raw = _requested(headers)
    if raw is None:
        return MIN
    raw = raw.strip()
    if raw.lower() == "latest":
        return MAX
    m = _VERSION_RE.match(raw)
    if not m:
        raise InvalidParameter(f"API Version String {raw} is of invalid format. Must be of "
                               "format MajorNum.MinorNum.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN <= version <= MAX:
        raise NotAcceptable(f"Version {raw} is not supported by the API. Minimum is "
                            f"{fmt(MIN)} and maximum is {fmt(MAX)}.")
    return version


def response_headers(version: V) -> dict[str, str]:
    return {
        "OpenStack-API-Version": f"compute {fmt(version)}",
        LEGACY_HEADER: fmt(version),
        "Vary": f"OpenStack-API-Version, {LEGACY_HEADER}",
    }


def _in(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class NovaVersions:
    """ASGI middleware: the version of each /compute/v2.1 request, 406 when none fits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if _in(path, LEGACY_PREFIX):
            scope.setdefault("state", {})["compute_version"] = MIN
        if not _in(path, PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            version = parse_request(Headers(scope=scope))
        except (InvalidParameter, NotAcceptable) as exc:
            await error_response(exc.code, exc.message)(scope, receive, send)
            return
        scope.setdefault("state", {})["compute_version"] = version
        extra = response_headers(version)

        await self.app(scope, receive, with_headers(send, extra))
