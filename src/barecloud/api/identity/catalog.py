"""/v3/services, /v3/endpoints, /v3/regions: the catalog (catalog_store.py)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import catalog_store as store
from barecloud.services.identity import schemas

router = inputs.router(prefix="/identity/v3")


@router.get("/services")
@accepts(query=schemas.LIST_SERVICES_QUERY)
async def list_services(request: Request) -> JSONResponse:
    found = await store.list_services(runtime(request), context(request),
                                      params.query(request, "type"),
                                      params.query(request, "name"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("services", [render.service(s, v3) for s in found],
                                          params.self_url(request)))


@router.post("/services", status_code=201)
@accepts(body=schemas.CREATE_SERVICE)
async def create_service(request: Request) -> JSONResponse:
    svc = await store.create_service(runtime(request), context(request), request.state.body)
    return JSONResponse({"service": render.service(svc, params.v3(request))}, status_code=201)


@router.get("/services/{service_id}")
@accepts()
async def show_service(service_id: str, request: Request) -> JSONResponse:
    svc = await store.get_service(runtime(request), context(request), service_id)
    return JSONResponse({"service": render.service(svc, params.v3(request))})


@router.patch("/services/{service_id}")
@accepts(body=schemas.UPDATE_SERVICE)
async def update_service(service_id: str, request: Request) -> JSONResponse:
    svc = await store.update_service(runtime(request), context(request), service_id,
                                     request.state.body)
    return JSONResponse({"service": render.service(svc, params.v3(request))})


@router.delete("/services/{service_id}", status_code=204)
@accepts()
async def delete_service(service_id: str, request: Request) -> Response:
    await store.delete_service(runtime(request), context(request), service_id)
    return Response(status_code=204)


@router.get("/endpoints")
@accepts(query=schemas.LIST_ENDPOINTS_QUERY)
async def list_endpoints(request: Request) -> JSONResponse:
    found = await store.list_endpoints(
        runtime(request), context(request), interface=params.query(request, "interface"),
        service_id=params.query(request, "service_id"),
        region_id=params.query(request, "region_id"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("endpoints", [render.endpoint(e, v3) for e in found],
                                          params.self_url(request)))


@router.post("/endpoints", status_code=201)
@accepts(body=schemas.CREATE_ENDPOINT)
async def create_endpoint(request: Request) -> JSONResponse:
    ep = await store.create_endpoint(runtime(request), context(request), request.state.body)
    return JSONResponse({"endpoint": render.endpoint(ep, params.v3(request))},
                        status_code=201)


@router.get("/endpoints/{endpoint_id}")
@accepts()
async def show_endpoint(endpoint_id: str, request: Request) -> JSONResponse:
    ep = await store.get_endpoint(runtime(request), context(request), endpoint_id)
    return JSONResponse({"endpoint": render.endpoint(ep, params.v3(request))})


@router.patch("/endpoints/{endpoint_id}")
@accepts(body=schemas.UPDATE_ENDPOINT)
async def update_endpoint(endpoint_id: str, request: Request) -> JSONResponse:
    ep = await store.update_endpoint(runtime(request), context(request), endpoint_id,
                                     request.state.body)
    return JSONResponse({"endpoint": render.endpoint(ep, params.v3(request))})


@router.delete("/endpoints/{endpoint_id}", status_code=204)
@accepts()
async def delete_endpoint(endpoint_id: str, request: Request) -> Response:
    await store.delete_endpoint(runtime(request), context(request), endpoint_id)
    return Response(status_code=204)


@router.get("/regions")
@accepts(query=schemas.LIST_REGIONS_QUERY)
async def list_regions(request: Request) -> JSONResponse:
    found = await store.list_regions(runtime(request), context(request),
                                     params.query(request, "parent_region_id"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("regions", [render.region(r, v3) for r in found],
                                          params.self_url(request)))


@router.post("/regions", status_code=201)
@accepts(body=schemas.CREATE_REGION)
async def create_region(request: Request) -> JSONResponse:
    r = await store.create_region(runtime(request), context(request), request.state.body)
    return JSONResponse({"region": render.region(r, params.v3(request))}, status_code=201)


@router.put("/regions/{region_id}", status_code=201)
@accepts(body=schemas.CREATE_REGION)
async def put_region(region_id: str, request: Request) -> JSONResponse:
    r = await store.create_region(runtime(request), context(request), request.state.body,
                                  region_id)
    return JSONResponse({"region": render.region(r, params.v3(request))}, status_code=201)


@router.get("/regions/{region_id}")
@accepts()
async def show_region(region_id: str, request: Request) -> JSONResponse:
    r = await store.get_region(runtime(request), context(request), region_id)
    return JSONResponse({"region": render.region(r, params.v3(request))})


@router.patch("/regions/{region_id}")
@accepts(body=schemas.UPDATE_REGION)
async def update_region(region_id: str, request: Request) -> JSONResponse:
    r = await store.update_region(runtime(request), context(request), region_id,
                                  request.state.body)
    return JSONResponse({"region": render.region(r, params.v3(request))})


@router.delete("/regions/{region_id}", status_code=204)
@accepts()
async def delete_region(region_id: str, request: Request) -> Response:
    await store.delete_region(runtime(request), context(request), region_id)
    return Response(status_code=204)
