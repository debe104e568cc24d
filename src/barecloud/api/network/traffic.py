"""GET /network/v2.0/barecloud-top-talkers: which tenant's machines move the bytes.

Not a Neutron resource (Neutron has none for this): an extension of
barecloud's own, named with its prefix so no client mistakes it for one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.errors import InvalidParameter
from barecloud.services.network import traffic

router = APIRouter(prefix="/network/v2.0")


def _number(request: Request, name: str, default: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid input for {name}. Reason: '{raw}' is not a "
                               "number.") from None


@router.get("/barecloud-top-talkers")
async def top_talkers(request: Request) -> JSONResponse:
    limit = _number(request, "limit", 10)
    if limit != int(limit):
        raise InvalidParameter(f"Invalid input for limit. Reason: '{limit}' is not an "
                               "integer.")
    rows = await traffic.top_talkers(
        runtime(request), context(request), switch=request.query_params.get("switch"),
        minutes=_number(request, "minutes", 5), limit=int(limit),
        sort=request.query_params.get("sort", "sent"))
    return JSONResponse({"top_talkers": rows})
