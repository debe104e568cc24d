"""Nova's network proxies (2.1 to 2.35): ``/os-floating-ips``, ``/os-networks`` and
``/os-tenant-networks``, Neutron's resources in Nova's format.

From 2.36 the paths answer 404, as Nova's, before their input is read.
"""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.inputs import accepts
from barecloud.api.compute.security_groups import proxy  # the same versions: to 2.35
from barecloud.services.compute import nova_floating_ips as fips
from barecloud.services.compute import nova_networks, schemas

router = declared.router()


@router.get("/os-floating-ips")
@proxy
@accepts()
async def list_floating_ips(request: Request) -> JSONResponse:
    return JSONResponse({"floating_ips": await fips.list_ips(runtime(request),
                                                             context(request))})


@router.post("/os-floating-ips")
@proxy
@accepts(body=schemas.CREATE_FLOATING_IP, body_required=False)
async def create_floating_ip(request: Request) -> JSONResponse:
    pool = (request.state.body or {}).get("pool")
    return JSONResponse({"floating_ip": await fips.create(runtime(request), context(request),
                                                          pool)})


@router.get("/os-floating-ips/{fip_id}")
@proxy
@accepts()
async def show_floating_ip(fip_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"floating_ip": await fips.show(runtime(request), context(request),
                                                        fip_id)})


@router.delete("/os-floating-ips/{fip_id}", status_code=202)
@proxy
@accepts()
async def delete_floating_ip(fip_id: str, request: Request) -> Response:
    await fips.delete(runtime(request), context(request), fip_id)
    return Response(status_code=202)


@router.get("/os-networks")
@proxy
@accepts()
async def list_networks(request: Request) -> JSONResponse:
    return JSONResponse({"networks": await nova_networks.list_networks(runtime(request),
                                                                       context(request))})


@router.get("/os-networks/{network_id}")
@proxy
@accepts()
async def show_network(network_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"network": await nova_networks.show_network(
        runtime(request), context(request), network_id)})


@router.get("/os-tenant-networks")
@proxy
@accepts()
async def list_tenant_networks(request: Request) -> JSONResponse:
    return JSONResponse({"networks": await nova_networks.list_tenant_networks(
        runtime(request), context(request))})


@router.get("/os-tenant-networks/{network_id}")
@proxy
@accepts()
async def show_tenant_network(network_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"network": await nova_networks.show_tenant_network(
        runtime(request), context(request), network_id)})
