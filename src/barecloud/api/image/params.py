"""Request bodies and links for the Image API handlers, worded as Glance."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from barecloud.errors import InvalidParameter


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise InvalidParameter("Body expected in request.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidParameter("Malformed JSON in request body.") from None


def media_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    return value.split(";")[0].strip().lower() if value is not None else None
