"""/v3/OS-OAUTH1/consumers."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import oauth_consumers, schemas

router = inputs.router(prefix="/identity/v3/OS-OAUTH1/consumers")


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_CONSUMER)
async def create(request: Request) -> JSONResponse:
    row, secret = await oauth_consumers.create(runtime(request), context(request),
                                               request.state.body)
    shown = {**render.consumer(row, params.v3(request)), "secret": secret}
    return JSONResponse({"consumer": shown}, status_code=201)


@router.get("")
@accepts()
async def list_consumers(request: Request) -> JSONResponse:
    found = await oauth_consumers.list_consumers(runtime(request), context(request))
    v3 = params.v3(request)
    return JSONResponse(render.collection("consumers", [render.consumer(c, v3) for c in found],
                                          params.self_url(request)))


@router.get("/{consumer_id}")
@accepts()
async def show(consumer_id: str, request: Request) -> JSONResponse:
    row = await oauth_consumers.get(runtime(request), context(request), consumer_id)
    return JSONResponse({"consumer": render.consumer(row, params.v3(request))})


@router.patch("/{consumer_id}")
@accepts(body=schemas.UPDATE_CONSUMER)
async def update(consumer_id: str, request: Request) -> JSONResponse:
    row = await oauth_consumers.update(runtime(request), context(request), consumer_id,
                                       request.state.body)
    return JSONResponse({"consumer": render.consumer(row, params.v3(request))})


@router.delete("/{consumer_id}", status_code=204)
@accepts()
async def delete(consumer_id: str, request: Request) -> Response:
    await oauth_consumers.remove(runtime(request), context(request), consumer_id)
    return Response(status_code=204)
