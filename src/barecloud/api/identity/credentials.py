"""/v3/credentials, /v3/users/{id}/credentials/OS-EC2 and the deprecated /v3/policies."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.db.identity_models import Credential
from barecloud.services.identity import credentials, policy_blobs, schemas

router = inputs.router(prefix="/identity/v3")


@router.post("/credentials", status_code=201)
@accepts(body=schemas.CREATE_CREDENTIAL)
async def create_credential(request: Request) -> JSONResponse:
    row, blob = await credentials.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"credential": render.credential(row, blob, params.v3(request))},
                        status_code=201)


@router.get("/credentials")
@accepts(query=schemas.LIST_CREDENTIALS_QUERY)
async def list_credentials(request: Request) -> JSONResponse:
    found = await credentials.list_credentials(runtime(request), context(request),
                                               params.query(request, "user_id"),
                                               params.query(request, "type"))
    v3 = params.v3(request)
    return JSONResponse(render.collection(
        "credentials", [render.credential(c, blob, v3) for c, blob in found],
        params.self_url(request)))


@router.get("/credentials/{credential_id}")
@accepts()
async def show_credential(credential_id: str, request: Request) -> JSONResponse:
    row, blob = await credentials.get(runtime(request), context(request), credential_id)
    return JSONResponse({"credential": render.credential(row, blob, params.v3(request))})


@router.patch("/credentials/{credential_id}")
@accepts(body=schemas.UPDATE_CREDENTIAL)
async def update_credential(credential_id: str, request: Request) -> JSONResponse:
    row, blob = await credentials.update(runtime(request), context(request), credential_id,
                                         request.state.body)
    return JSONResponse({"credential": render.credential(row, blob, params.v3(request))})


@router.delete("/credentials/{credential_id}", status_code=204)
@accepts()
async def delete_credential(credential_id: str, request: Request) -> Response:
    await credentials.remove(runtime(request), context(request), credential_id)
    return Response(status_code=204)


@router.post("/policies", status_code=201)
@accepts(body=schemas.CREATE_POLICY)
async def create_policy(request: Request) -> JSONResponse:
    p = await policy_blobs.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"policy": render.policy(p, params.v3(request))}, status_code=201)


@router.get("/policies")
@accepts(query=schemas.LIST_POLICIES_QUERY)
async def list_policies(request: Request) -> JSONResponse:
    found = await policy_blobs.list_policies(runtime(request), context(request),
                                             params.query(request, "type"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("policies", [render.policy(p, v3) for p in found],
                                          params.self_url(request)))


@router.get("/policies/{policy_id}")
@accepts()
async def show_policy(policy_id: str, request: Request) -> JSONResponse:
    p = await policy_blobs.get(runtime(request), context(request), policy_id)
    return JSONResponse({"policy": render.policy(p, params.v3(request))})


@router.patch("/policies/{policy_id}")
@accepts(body=schemas.UPDATE_POLICY)
async def update_policy(policy_id: str, request: Request) -> JSONResponse:
    p = await policy_blobs.update(runtime(request), context(request), policy_id,
                                  request.state.body)
    return JSONResponse({"policy": render.policy(p, params.v3(request))})


@router.delete("/policies/{policy_id}", status_code=204)
@accepts()
async def delete_policy(policy_id: str, request: Request) -> Response:
    await policy_blobs.remove(runtime(request), context(request), policy_id)
    return Response(status_code=204)


def _ec2(row: Credential, blob: str, request: Request) -> dict[str, Any]:
    view = credentials.ec2_view(row, blob)
    view["links"] = {"self": f"{params.v3(request)}/users/{row.user_id}/credentials/OS-EC2/"
                             f"{view['access']}"}
    return view


@router.post("/users/{user_id}/credentials/OS-EC2", status_code=201)
@accepts(body=schemas.CREATE_EC2_CREDENTIAL)
async def create_ec2(user_id: str, request: Request) -> JSONResponse:
    row, blob = await credentials.ec2_create(runtime(request), context(request), user_id,
                                             request.state.body.get("tenant_id"))
    return JSONResponse({"credential": _ec2(row, blob, request)}, status_code=201)


@router.get("/users/{user_id}/credentials/OS-EC2")
@accepts()
async def list_ec2(user_id: str, request: Request) -> JSONResponse:
    found = await credentials.ec2_list(runtime(request), context(request), user_id)
    return JSONResponse(render.collection(
        "credentials", [_ec2(row, blob, request) for row, blob in found],
        params.self_url(request)))


@router.get("/users/{user_id}/credentials/OS-EC2/{access}")
@accepts()
async def show_ec2(user_id: str, access: str, request: Request) -> JSONResponse:
    row, blob = await credentials.ec2_get(runtime(request), context(request), user_id, access)
    return JSONResponse({"credential": _ec2(row, blob, request)})


@router.delete("/users/{user_id}/credentials/OS-EC2/{access}", status_code=204)
@accepts()
async def delete_ec2(user_id: str, access: str, request: Request) -> Response:
    await credentials.ec2_delete(runtime(request), context(request), user_id, access)
    return Response(status_code=204)
