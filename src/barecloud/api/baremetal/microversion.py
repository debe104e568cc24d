"""Bare Metal API microversions: negotiation, and the headers on every answer.

MAX is the highest version whose node fields and verbs barecloud implements
(1.92 adds runbooks); see docs/design/baremetal-api.md for what each
version below it means here.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from barecloud.api.common import with_headers
from barecloud.errors import InvalidParameter, NotAcceptable

MIN = (1, 1)
MAX = (1, 92)
# Before 1.91 Ironic (pecan) took a trailing ".json" for a content type and
# dropped it: ``/v1/nodes/{uuid}.json`` is that node.
JSON_SUFFIX_UNTIL = (1, 90)
LEGACY_HEADER = "X-OpenStack-Ironic-API-Version"
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


def fmt(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def parse_request(headers: Headers) -> tuple[int, int]:
    raw = headers.get(LEGACY_HEADER)
    if raw is None:
        std = headers.get("OpenStack-API-Version")
        if std:
            parts = std.strip().split()
            if len(parts) == 2 and parts[0].lower() == "baremetal":
                raw = parts[1]
    if raw is None:
        return MIN
    raw = raw.strip()
    if raw.lower() == "latest":
        return MAX
    m = _VERSION_RE.match(raw)
    if not m:
        raise InvalidParameter(
            f"Invalid value for {LEGACY_HEADER} header: {raw!r}; expected 'latest' or "
            "'MAJOR.MINOR'."
        )
    version = (int(m.group(1)), int(m.group(2)))
    if version[0] != MIN[0] or not MIN <= version <= MAX:
        raise NotAcceptable(
            f"Version {raw} was requested but the minor version is not supported by this "
            f"service. The supported version range is: [{fmt(MIN)}, {fmt(MAX)}]."
        )
    return version


def response_headers(version: tuple[int, int] | None) -> dict[str, str]:
    out = {
        "X-OpenStack-Ironic-API-Minimum-Version": fmt(MIN),
        "X-OpenStack-Ironic-API-Maximum-Version": fmt(MAX),
    }
    if version is not None:
        out[LEGACY_HEADER] = fmt(version)
        out["OpenStack-API-Version"] = f"baremetal {fmt(version)}"
        out["Vary"] = f"{LEGACY_HEADER}, OpenStack-API-Version"
    return out


def versioned(path: str) -> str:
    """``path`` with the version element Ironic supplies when it is missing: its root
    controller serves ``/nodes/...`` as ``/v1/nodes/...`` (where the ``bookmark``
    links of every resource point)."""
    rest = path[len("/baremetal"):]
    first = rest[1:].split("/", 1)[0]
    if not rest.startswith("/") or not first or first == "v1":
        return path
    return f"/baremetal/v1{rest}"


class IronicVersions:
    """ASGI middleware: pick the version for /baremetal requests, answer 406 if none
    fits; unversioned paths are served as v1 (:func:`versioned`)."""

    def __init__(self, app: ASGIApp, error_response: Any) -> None:
        self.app = app
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/baremetal"):
            await self.app(scope, receive, send)
            return
        try:
            version: tuple[int, int] | None = parse_request(Headers(scope=scope))
        except (NotAcceptable, InvalidParameter) as exc:
            response = self.error_response(exc.code, exc.message)
            response.headers.update(response_headers(None))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["bm_version"] = version
        path = versioned(scope["path"])
        if path.endswith(".json") and version is not None and version <= JSON_SUFFIX_UNTIL:
            path = path[: -len(".json")]
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        extra = response_headers(version)

        await self.app(scope, receive, with_headers(send, extra))
