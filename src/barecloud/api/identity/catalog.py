"""/v3/services, /v3/endpoints, /v3/regions: the catalog, read-only."""

from __future__ import annotations

from fastapi import Request

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.errors import NotFound
from barecloud.services import policy
from barecloud.services.identity import catalog, schemas

router = inputs.router(prefix="/identity/v3")


@router.get("/services")
@accepts(query=schemas.LIST_SERVICES_QUERY)
async def list_services(request: Request) -> JSONResponse:
    policy.authorize(context(request), "identity:list_services")
    wanted = params.query(request, "type")
    v3 = params.v3(request)
    return JSONResponse(render.collection(
        "services", [render.service(s, v3) for s in catalog.SERVICES
                     if wanted is None or s.type == wanted], params.self_url(request)))


@router.get("/services/{service_id}")
@accepts()
async def show_service(service_id: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "identity:get_service")
    for svc in catalog.SERVICES:
        if svc.id == service_id:
            return JSONResponse({"service": render.service(svc, params.v3(request))})
    raise NotFound(f"Could not find service: {service_id}.")


@router.get("/endpoints")
@accepts(query=schemas.LIST_ENDPOINTS_QUERY)
async def list_endpoints(request: Request) -> JSONResponse:
    policy.authorize(context(request), "identity:list_endpoints")
    interface = params.query(request, "interface")
    service_id = params.query(request, "service_id")
    region = params.query(request, "region_id")
    v3 = params.v3(request)
    found = [e for e in catalog.endpoints(runtime(request).settings)
             if interface in (None, e.interface) and service_id in (None, e.service.id)
             and region in (None, catalog.REGION)]
    return JSONResponse(render.collection("endpoints", [render.endpoint(e, v3) for e in found],
                                          params.self_url(request)))


@router.get("/endpoints/{endpoint_id}")
@accepts()
async def show_endpoint(endpoint_id: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "identity:get_endpoint")
    for ep in catalog.endpoints(runtime(request).settings):
        if ep.id == endpoint_id:
            return JSONResponse({"endpoint": render.endpoint(ep, params.v3(request))})
    raise NotFound(f"Could not find endpoint: {endpoint_id}.")


@router.get("/regions")
@accepts()
async def list_regions(request: Request) -> JSONResponse:
    policy.authorize(context(request), "identity:list_regions")
    return JSONResponse(render.collection("regions", [render.region(params.v3(request))],
                                          params.self_url(request)))


@router.get("/regions/{region_id}")
@accepts()
async def show_region(region_id: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "identity:get_region")
    if region_id != catalog.REGION:
        raise NotFound(f"Could not find region: {region_id}.")
    return JSONResponse({"region": render.region(params.v3(request))})
