"""Glance's error body: webob's JSON form, ``{"message", "code", "title"}``.

openstacksdk reads ``message``; ``code`` is the status line and ``title`` its
reason phrase, as webob writes them for a JSON client.  Unlike webob, the
message is sent without its HTML line breaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from barecloud.api.common import JSONResponse
from barecloud.errors import clip


def error_response(status: int, message: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    message = clip(message)  # it may quote the request
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return JSONResponse({"message": message, "code": f"{status} {title}", "title": title},
                        status_code=status, headers=dict(headers or {}))
