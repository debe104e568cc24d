"""/v3/domains."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import domains, schemas

router = inputs.router(prefix="/identity/v3/domains")


@router.get("")
@accepts(query=schemas.LIST_DOMAINS_QUERY)
async def list_domains(request: Request) -> JSONResponse:
    found = await domains.list_domains(runtime(request), context(request),
                                       params.query(request, "name"),
                                       params.flag(request, "enabled"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("domains", [render.domain(d, v3) for d in found],
                                          params.self_url(request)))


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_DOMAIN)
async def create_domain(request: Request) -> JSONResponse:
    d = await domains.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"domain": render.domain(d, params.v3(request))}, status_code=201)


@router.get("/{domain_id}")
@accepts()
async def show_domain(domain_id: str, request: Request) -> JSONResponse:
    d = await domains.get(runtime(request), context(request), domain_id)
    return JSONResponse({"domain": render.domain(d, params.v3(request))})


@router.patch("/{domain_id}")
@accepts(body=schemas.UPDATE_DOMAIN)
async def update_domain(domain_id: str, request: Request) -> JSONResponse:
    d = await domains.update(runtime(request), context(request), domain_id,
                             request.state.body)
    return JSONResponse({"domain": render.domain(d, params.v3(request))})


@router.delete("/{domain_id}", status_code=204)
@accepts()
async def delete_domain(domain_id: str, request: Request) -> Response:
    await domains.remove(runtime(request), context(request), domain_id)
    return Response(status_code=204)
