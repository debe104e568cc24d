"""Blazar's error body: ``{"error_code": N, "error_message": "...", "error_name": N}``.

Blazar names its own refusals by their status (an integer), and only the
errors of its web layer by a word; python-blazarclient shows just
``error_message``.
"""

from __future__ import annotations

from collections.abc import Mapping

from barecloud.api.common import JSONResponse
from barecloud.errors import clip

NAMES = {500: "INTERNAL_SERVER_ERROR", 501: "NOT_IMPLEMENTED_ERROR"}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None,
                   name: str | int | None = None) -> JSONResponse:
    message = clip(message)  # it may quote the request
    return JSONResponse({"error_code": status, "error_message": message,
                         "error_name": name if name is not None else NAMES.get(status, status)},
                        status_code=status, headers=dict(headers or {}))
