"""Ironic's error body: a JSON string inside ``error_message``, as its clients parse it."""

from __future__ import annotations

import json

from barecloud.api.common import JSONResponse
from barecloud.errors import clip


def error_response(status: int, message: str) -> JSONResponse:
    message = clip(message)  # it may quote the request
    fault = {
        "faultstring": message,
        "faultcode": "Client" if status < 500 else "Server",
        "debuginfo": None,
    }
    return JSONResponse({"error_message": json.dumps(fault)}, status_code=status)
