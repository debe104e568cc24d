"""Keystone's error body: ``{"error": {"code", "title", "message"}}``."""

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
    return JSONResponse({"error": {"code": status, "title": title, "message": message}},
                        status_code=status, headers=dict(headers or {}))
