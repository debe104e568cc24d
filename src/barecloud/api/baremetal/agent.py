"""/v1/lookup and /v1/heartbeat: what the ramdisk agent calls (API 1.22+)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api.baremetal import params
from barecloud.api.common import JSONResponse, context, json_body, runtime
from barecloud.errors import InvalidParameter
from barecloud.services import agent

router = APIRouter(prefix="/baremetal/v1")


@router.get("/lookup")
async def lookup(request: Request) -> JSONResponse:
    params.require(request, (1, 22))
    found = await agent.lookup(runtime(request), request.query_params.get("addresses"),
                               request.query_params.get("node_uuid"))
    return JSONResponse(found)


@router.post("/heartbeat/{ident}", status_code=202)
async def heartbeat(ident: str, request: Request) -> Response:
    params.require(request, (1, 22))
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("Expected a JSON object.")
    await agent.heartbeat(runtime(request), context(request), ident, body)
    return Response(status_code=202)
