"""GET /network/v2.0/barecloud-top-talkers: which tenant's machines move the bytes.

Not a Neutron resource (Neutron has none for this): an extension of
barecloud's own, named with its prefix so no client mistakes it for one.
``by=port`` (the default) ranks switch ports by their counters;
``by=flow`` ranks the flows the switches' sFlow samples saw, with both
ends attributed and the estimate's error (docs/design/flows.md).
"""

from __future__ import annotations

from fastapi import Request

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.network import inputs
from barecloud.api.network.inputs import accepts
from barecloud.errors import InvalidParameter
from barecloud.services.network import flow_report, schemas, traffic

router = inputs.router(prefix="/network/v2.0")


@router.get("/barecloud-top-talkers")
@accepts(query=schemas.TOP_TALKERS_QUERY)
async def top_talkers(request: Request) -> JSONResponse:
    query = request.state.query
    by = query.get("by", "port")
    if by == "flow":
        rows = await flow_report.top_flows(
            runtime(request), context(request), switch=query.get("switch"),
            port=query.get("port"), minutes=float(query.get("minutes", 5)),
            limit=int(query.get("limit", 10)))
        return JSONResponse({"top_talkers": rows})
    if by != "port":
        raise InvalidParameter(f"by must be port or flow, not {by!r}.")
    rows = await traffic.top_talkers(
        runtime(request), context(request), switch=query.get("switch"),
        port=query.get("port"), minutes=float(query.get("minutes", 5)),
        limit=int(query.get("limit", 10)), sort=query.get("sort", "sent"))
    return JSONResponse({"top_talkers": rows})
