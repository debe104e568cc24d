"""/v3/users/{user_id}/application_credentials."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import app_credentials, schemas

router = inputs.router(prefix="/identity/v3/users/{user_id}/application_credentials")


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_APP_CREDENTIAL)
async def create(user_id: str, request: Request) -> JSONResponse:
    made = await app_credentials.create(runtime(request), context(request), user_id,
                                        request.state.body)
    return JSONResponse({"application_credential": render.app_cred(
        made.credential, made.roles, params.v3(request), secret=made.secret)}, status_code=201)


@router.get("")
@accepts(query=schemas.LIST_APP_CREDENTIALS_QUERY)
async def list_credentials(user_id: str, request: Request) -> JSONResponse:
    found = await app_credentials.list_credentials(runtime(request), context(request),
                                                   user_id, params.query(request, "name"))
    v3 = params.v3(request)
    return JSONResponse(render.collection(
        "application_credentials", [render.app_cred(c, roles, v3) for c, roles in found],
        params.self_url(request)))


@router.get("/{cred_id}")
@accepts()
async def show(user_id: str, cred_id: str, request: Request) -> JSONResponse:
    cred, roles = await app_credentials.get(runtime(request), context(request), user_id,
                                            cred_id)
    return JSONResponse({"application_credential": render.app_cred(cred, roles,
                                                                    params.v3(request))})


@router.delete("/{cred_id}", status_code=204)
@accepts()
async def delete(user_id: str, cred_id: str, request: Request) -> Response:
    await app_credentials.remove(runtime(request), context(request), user_id, cred_id)
    return Response(status_code=204)
