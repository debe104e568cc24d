"""/v3/roles and the roles they imply."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.db.identity_models import Role
from barecloud.services.identity import roles, schemas

router = inputs.router(prefix="/identity/v3")


@router.get("/roles")
@accepts(query=schemas.LIST_ROLES_QUERY)
async def list_roles(request: Request) -> JSONResponse:
    found = await roles.list_roles(runtime(request), context(request),
                                   params.query(request, "name"),
                                   params.query(request, "domain_id"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("roles", [render.role(r, v3) for r in found],
                                          params.self_url(request)))


@router.post("/roles", status_code=201)
@accepts(body=schemas.CREATE_ROLE)
async def create_role(request: Request) -> JSONResponse:
    r = await roles.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"role": render.role(r, params.v3(request))}, status_code=201)


@router.get("/roles/{role_id}")
@accepts()
async def show_role(role_id: str, request: Request) -> JSONResponse:
    r = await roles.get(runtime(request), context(request), role_id)
    return JSONResponse({"role": render.role(r, params.v3(request))})


@router.patch("/roles/{role_id}")
@accepts(body=schemas.UPDATE_ROLE)
async def update_role(role_id: str, request: Request) -> JSONResponse:
    r = await roles.update(runtime(request), context(request), role_id,
                           request.state.body)
    return JSONResponse({"role": render.role(r, params.v3(request))})


@router.delete("/roles/{role_id}", status_code=204)
@accepts()
async def delete_role(role_id: str, request: Request) -> Response:
    await roles.remove(runtime(request), context(request), role_id)
    return Response(status_code=204)


@router.get("/role_inferences")
@accepts()
async def role_inferences(request: Request) -> JSONResponse:
    v3 = params.v3(request)
    found = await roles.inferences(runtime(request), context(request))
    return JSONResponse({
        "role_inferences": [{"prior_role": render.role_ref(prior, v3),
                             "implies": [render.role_ref(i, v3) for i in implied]}
                            for prior, implied in found],
        "links": {"self": params.self_url(request)},
    })


@router.get("/roles/{role_id}/implies")
@accepts()
async def implied_by(role_id: str, request: Request) -> JSONResponse:
    v3 = params.v3(request)
    found = await roles.inferences(runtime(request), context(request))
    prior = await roles.get(runtime(request), context(request), role_id)
    implied = next((i for p, i in found if p.id == prior.id), [])
    return JSONResponse({"role_inference": {"prior_role": render.role_ref(prior, v3),
                                            "implies": [render.role_ref(i, v3)
                                                        for i in implied]},
                         "links": {"self": params.self_url(request)}})


def _inference(prior: Role, implied: Role, request: Request) -> dict[str, Any]:
    v3 = params.v3(request)
    return {"role_inference": {"prior_role": render.role_ref(prior, v3),
                               "implies": render.role_ref(implied, v3)},
            "links": {"self": params.self_url(request)}}


@router.put("/roles/{prior_id}/implies/{implied_id}", status_code=201)
@accepts()
async def imply(prior_id: str, implied_id: str, request: Request) -> JSONResponse:
    prior, implied = await roles.imply(runtime(request), context(request), prior_id,
                                       implied_id)
    return JSONResponse(_inference(prior, implied, request), status_code=201)


@router.get("/roles/{prior_id}/implies/{implied_id}")
@accepts()
async def show_implication(prior_id: str, implied_id: str, request: Request) -> JSONResponse:
    prior, implied = await roles.implication(runtime(request), context(request), prior_id,
                                             implied_id)
    return JSONResponse(_inference(prior, implied, request))


@router.head("/roles/{prior_id}/implies/{implied_id}", status_code=204)
@accepts()
async def check_implication(prior_id: str, implied_id: str, request: Request) -> Response:
    await roles.implication(runtime(request), context(request), prior_id, implied_id,
                            "identity:check_implied_role")
    return Response(status_code=204)


@router.delete("/roles/{prior_id}/implies/{implied_id}", status_code=204)
@accepts()
async def unimply(prior_id: str, implied_id: str, request: Request) -> Response:
    await roles.unimply(runtime(request), context(request), prior_id, implied_id)
    return Response(status_code=204)
