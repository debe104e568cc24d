"""/servers/{id}/tags (2.26): the server's tags, whole or one at a time (Nova's)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts
from barecloud.services.compute import labels, schemas

router = declared.router(prefix="/servers")
SINCE = (2, 26)


@router.get("/{server_id}/tags")
@accepts()
async def list_tags(server_id: str, request: Request) -> JSONResponse:
    params.require(request, SINCE)
    return JSONResponse({"tags": await labels.tags(runtime(request), context(request),
                                                   server_id)})


@router.put("/{server_id}/tags")
@accepts(body=schemas.SERVER_TAGS)
async def replace_tags(server_id: str, request: Request) -> JSONResponse:
    params.require(request, SINCE)
    done = await labels.set_tags(runtime(request), context(request), server_id,
                                 request.state.body["tags"])
    return JSONResponse({"tags": done})


@router.delete("/{server_id}/tags", status_code=204)
@accepts()
async def delete_tags(server_id: str, request: Request) -> Response:
    params.require(request, SINCE)
    await labels.delete_tags(runtime(request), context(request), server_id)
    return Response(status_code=204)


@router.get("/{server_id}/tags/{tag}", status_code=204)
@accepts()
async def check_tag(server_id: str, tag: str, request: Request) -> Response:
    params.require(request, SINCE)
    await labels.has_tag(runtime(request), context(request), server_id, tag)
    return Response(status_code=204)


@router.put("/{server_id}/tags/{tag}", status_code=201)
@accepts()
async def add_tag(server_id: str, tag: str, request: Request) -> Response:
    params.require(request, SINCE)
    if not await labels.add_tag(runtime(request), context(request), server_id, tag):
        return Response(status_code=204)  # it was there
    return Response(status_code=201, headers={
        "Location": f"{params.root(request)}/servers/{server_id}/tags/{tag}"})


@router.delete("/{server_id}/tags/{tag}", status_code=204)
@accepts()
async def delete_tag(server_id: str, tag: str, request: Request) -> Response:
    params.require(request, SINCE)
    await labels.delete_tag(runtime(request), context(request), server_id, tag)
    return Response(status_code=204)
