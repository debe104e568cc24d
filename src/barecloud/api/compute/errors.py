"""Nova's error body: ``{"<fault name>": {"code": N, "message": "..."}}``."""

from __future__ import annotations

from collections.abc import Mapping

from barecloud.api.common import JSONResponse
from barecloud.errors import clip

# nova/api/openstack/wsgi.py's Fault._fault_names.
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}


def error_response(status: int, message: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    message = clip(message)  # it may quote the request
    name = FAULT_NAMES.get(status, "computeFault")
    return JSONResponse({name: {"code": status, "message": message}}, status_code=status,
                        headers=dict(headers or {}))
