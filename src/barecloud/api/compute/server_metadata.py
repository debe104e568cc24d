"""/servers/{id}/metadata: the server's metadata, whole or one key at a time (Nova's)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.inputs import accepts
from barecloud.errors import InvalidParameter
from barecloud.services.compute import labels, schemas

router = declared.router(prefix="/servers")


@router.get("/{server_id}/metadata")
@accepts()
async def list_metadata(server_id: str, request: Request) -> JSONResponse:
    meta = await labels.metadata(runtime(request), context(request), server_id)
    return JSONResponse({"metadata": meta})


async def _set(server_id: str, request: Request, replace: bool) -> JSONResponse:
    items = request.state.body["metadata"]
    meta = await labels.set_metadata(runtime(request), context(request), server_id, items,
                                     replace=replace)
    return JSONResponse({"metadata": meta})


@router.post("/{server_id}/metadata")
@accepts(body=schemas.SERVER_METADATA)
async def merge_metadata(server_id: str, request: Request) -> JSONResponse:
    return await _set(server_id, request, replace=False)


@router.put("/{server_id}/metadata")
@accepts(body=schemas.SERVER_METADATA)
async def replace_metadata(server_id: str, request: Request) -> JSONResponse:
    return await _set(server_id, request, replace=True)


@router.get("/{server_id}/metadata/{key}")
@accepts()
async def show_metadata_item(server_id: str, key: str, request: Request) -> JSONResponse:
    value = await labels.metadata_item(runtime(request), context(request), server_id, key)
    return JSONResponse({"meta": {key: value}})


@router.put("/{server_id}/metadata/{key}")
@accepts(body=schemas.SERVER_META_ITEM)
async def set_metadata_item(server_id: str, key: str, request: Request) -> JSONResponse:
    item = request.state.body["meta"]
    if key not in item:
        raise InvalidParameter("Request body and URI mismatch")
    await labels.set_metadata(runtime(request), context(request), server_id, item,
                              replace=False)
    return JSONResponse({"meta": item})


@router.delete("/{server_id}/metadata/{key}", status_code=204)
@accepts()
async def delete_metadata_item(server_id: str, key: str, request: Request) -> Response:
    await labels.delete_metadata_item(runtime(request), context(request), server_id, key)
    return Response(status_code=204)
