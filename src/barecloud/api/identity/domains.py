"""/v3/domains."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, json_body, runtime
from barecloud.api.identity import params, render
from barecloud.services.identity import domains

router = APIRouter(prefix="/identity/v3/domains")


@router.get("")
async def list_domains(request: Request) -> JSONResponse:
    found = await domains.list_domains(runtime(request), context(request),
                                       params.query(request, "name"),
                                       params.flag(request, "enabled"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("domains", [render.domain(d, v3) for d in found],
                                          params.self_url(request)))


@router.post("", status_code=201)
async def create_domain(request: Request) -> JSONResponse:
    d = await domains.create(runtime(request), context(request), await json_body(request))
    return JSONResponse({"domain": render.domain(d, params.v3(request))}, status_code=201)


@router.get("/{domain_id}")
async def show_domain(domain_id: str, request: Request) -> JSONResponse:
    d = await domains.get(runtime(request), context(request), domain_id)
    return JSONResponse({"domain": render.domain(d, params.v3(request))})


@router.patch("/{domain_id}")
async def update_domain(domain_id: str, request: Request) -> JSONResponse:
    d = await domains.update(runtime(request), context(request), domain_id,
                             await json_body(request))
    return JSONResponse({"domain": render.domain(d, params.v3(request))})


@router.delete("/{domain_id}", status_code=204)
async def delete_domain(domain_id: str, request: Request) -> Response:
    await domains.remove(runtime(request), context(request), domain_id)
    return Response(status_code=204)
