"""The lab Redfish service's answers: JSON with OData headers, and Redfish error bodies.

Errors carry one Base message, as real BMCs send, so that clients (sushy,
the conductor's driver) see what they would see from hardware.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_TYPE = "application/json; charset=utf-8"


def redfish_error(
    status: int, message_id: str, message: str, *args: str, headers: dict[str, str] | None = None
) -> Response:
    """A Redfish error body: one Base message, its id also as the error code."""
    full_id = f"Base.1.8.{message_id}"
    info = {
        "@odata.type": "#Message.v1_1_1.Message",
        "MessageId": full_id,
        "Message": message,
        "MessageArgs": list(args),
        "Severity": "Critical" if status >= 500 else "Warning",
        "MessageSeverity": "Critical" if status >= 500 else "Warning",
        "Resolution": "None.",
    }
    body = {"error": {"code": full_id, "message": message, "@Message.ExtendedInfo": [info]}}
    return JSONResponse(body, status, headers=headers, media_type=_TYPE)


def unauthorized(path: str) -> Response:
    return redfish_error(
        401,
        "ResourceAtUriUnauthorized",
        f"While accessing the resource at {path}, the service received an authorization "
        "error: wrong or missing credentials.",
        path,
        headers={"WWW-Authenticate": 'Basic realm="barecloud lab BMC"'},
    )


def not_found(path: str) -> Response:
    return redfish_error(
        404, "ResourceMissingAtURI", f"The resource at the URI {path} was not found.", path
    )


def json_response(body: dict[str, Any], status: int = 200, etag: bool = False) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"OData-Version": "4.0"}
    if etag:
        headers["ETag"] = etag_of(data)
    return Response(data, status, headers=headers, media_type=_TYPE)


def etag_of(data: bytes) -> str:
    return '"' + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16] + '"'


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) as Redfish errors."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return redfish_error(
            405,
            "ActionNotSupported",
            f"The action {request.method} on {request.url.path} is not supported.",
            request.method,
        )
    if exc.status_code == 404:
        return not_found(request.url.path)
    return redfish_error(exc.status_code, "GeneralError", str(exc.detail))


async def read_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return redfish_error(400, "MalformedJSON",
                             "The request body submitted was malformed JSON.")  # fmt: skip
    if not isinstance(body, dict):
        return redfish_error(400, "MalformedJSON", "The request body must be a JSON object.")
    return body
