"""/image/v2/images/{id}/members: who a shared image is offered to."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.image import params, render
from barecloud.services.image import members as image_members

router = APIRouter(prefix="/image/v2/images/{image_id}/members")


@router.get("")
async def list_members(image_id: str, request: Request) -> JSONResponse:
    image, members = await image_members.list_members(runtime(request), context(request),
                                                      image_id)
    return JSONResponse({"members": [render.member(image, m) for m in members],
                         "schema": "/v2/schemas/members"})


@router.post("")
async def add_member(image_id: str, request: Request) -> JSONResponse:
    body = await params.json_body(request)
    image, member = await image_members.add(runtime(request), context(request), image_id, body)
    return JSONResponse(render.member(image, member))


@router.get("/{member_id}")
async def show_member(image_id: str, member_id: str, request: Request) -> JSONResponse:
    image, member = await image_members.get(runtime(request), context(request), image_id,
                                            member_id)
    return JSONResponse(render.member(image, member))


@router.put("/{member_id}")
async def update_member(image_id: str, member_id: str, request: Request) -> JSONResponse:
    body = await params.json_body(request)
    image, member = await image_members.set_status(runtime(request), context(request),
                                                   image_id, member_id, body)
    return JSONResponse(render.member(image, member))


@router.delete("/{member_id}", status_code=204)
async def delete_member(image_id: str, member_id: str, request: Request) -> Response:
    await image_members.remove(runtime(request), context(request), image_id, member_id)
    return Response(status_code=204)
