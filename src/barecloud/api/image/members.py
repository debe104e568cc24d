"""/image/v2/images/{id}/members: who a shared image is offered to."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.image import render
from barecloud.api.image.inputs import accepts
from barecloud.services.image import members as image_members
from barecloud.services.image import schemas

router = declared.router(prefix="/image/v2/images/{image_id}/members")


@router.get("")
@accepts()
async def list_members(image_id: str, request: Request) -> JSONResponse:
    image, members = await image_members.list_members(runtime(request), context(request),
                                                      image_id)
    return JSONResponse({"members": [render.member(image, m) for m in members],
                         "schema": "/v2/schemas/members"})


@router.post("")
@accepts(body=schemas.ADD_MEMBER)
async def add_member(image_id: str, request: Request) -> JSONResponse:
    image, member = await image_members.add(runtime(request), context(request), image_id,
                                            request.state.body)
    return JSONResponse(render.member(image, member))


@router.get("/{member_id}")
@accepts()
async def show_member(image_id: str, member_id: str, request: Request) -> JSONResponse:
    image, member = await image_members.get(runtime(request), context(request), image_id,
                                            member_id)
    return JSONResponse(render.member(image, member))


@router.put("/{member_id}")
@accepts(body=schemas.UPDATE_MEMBER)
async def update_member(image_id: str, member_id: str, request: Request) -> JSONResponse:
    image, member = await image_members.set_status(runtime(request), context(request),
                                                   image_id, member_id, request.state.body)
    return JSONResponse(render.member(image, member))


@router.delete("/{member_id}", status_code=204)
@accepts()
async def delete_member(image_id: str, member_id: str, request: Request) -> Response:
    await image_members.remove(runtime(request), context(request), image_id, member_id)
    return Response(status_code=204)
