"""PUT /routers/{id}/add_router_interface and /remove_router_interface (Neutron's l3)."""

from __future__ import annotations

from fastapi import Request

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.network import inputs, render
from barecloud.api.network.inputs import accepts
from barecloud.services.network import routers, schemas

router = inputs.router(prefix="/network/v2.0/routers")


@router.put("/{router_id}/add_router_interface")
@accepts(body=schemas.ROUTER_INTERFACE)
async def add_router_interface(router_id: str, request: Request) -> JSONResponse:
    info = await routers.add_interface(runtime(request), context(request), router_id,
                                       request.state.body)
    return JSONResponse(render.router_interface(info))


@router.put("/{router_id}/remove_router_interface")
@accepts(body=schemas.ROUTER_INTERFACE)
async def remove_router_interface(router_id: str, request: Request) -> JSONResponse:
    info = await routers.remove_interface(runtime(request), context(request), router_id,
                                          request.state.body)
    return JSONResponse(render.router_interface(info))
