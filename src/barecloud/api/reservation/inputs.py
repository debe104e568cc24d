"""The Reservation API's ``@accepts``: declarations from
services/reservation/schemas.py, refusals in Blazar's words, bodies read as
Blazar reads them (no body is ``{}``; anything but a JSON object is refused)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from barecloud.api.accepts import Inputs
from barecloud.errors import InvalidParameter
from barecloud.services.reservation.errors import wording


async def read(request: Request) -> dict[str, Any]:
    """The JSON object of the request; no body is ``{}``, as in Blazar."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameter(f"Malformed JSON in the request body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    return data


accepts = Inputs(wording, read=read)
