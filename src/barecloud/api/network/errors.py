"""Neutron's error body: ``{"NeutronError": {"type", "message", "detail"}}``.

A typed error (services/network/errors.py) gives its own ``type``; any
other refusal gets the name Neutron's web layer gives its status.
"""

from __future__ import annotations

from collections.abc import Mapping

from barecloud.api.common import JSONResponse
from barecloud.errors import clip

TYPES = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "PolicyNotAuthorized",
         404: "HTTPNotFound", 405: "HTTPMethodNotAllowed", 406: "HTTPNotAcceptable",
         408: "HTTPRequestTimeout", 409: "HTTPConflict", 413: "HTTPRequestEntityTooLarge",
         415: "HTTPUnsupportedMediaType", 503: "HTTPServiceUnavailable"}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None,
                   kind: str | None = None) -> JSONResponse:
    message = clip(message)  # it may quote the request
    name = kind or TYPES.get(status, "HTTPInternalServerError")
    return JSONResponse({"NeutronError": {"type": name, "message": message, "detail": ""}},
                        status_code=status, headers=dict(headers or {}))
