"""/servers/{id}/ips: the server's addresses by network, as Nova's (no MAC, no type)."""

from __future__ import annotations

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import render
from barecloud.api.compute.inputs import accepts
from barecloud.errors import NotFound
from barecloud.services.compute import queries

router = declared.router(prefix="/servers")


async def _addresses(server_id: str, request: Request) -> dict[str, list[dict[str, object]]]:
    view = await queries.get(runtime(request), context(request), server_id)
    return render.addresses(view.server, extended=False)


@router.get("/{server_id}/ips")
@accepts()
async def list_ips(server_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"addresses": await _addresses(server_id, request)})


@router.get("/{server_id}/ips/{network}")
@accepts()
async def show_ips(server_id: str, network: str, request: Request) -> JSONResponse:
    found = await _addresses(server_id, request)
    if network not in found:
        raise NotFound("Instance is not a member of specified network")
    return JSONResponse({network: found[network]})
