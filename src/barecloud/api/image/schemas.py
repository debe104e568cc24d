"""/image/v2/schemas: the JSON schemas Glance's clients read."""

from __future__ import annotations

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse
from barecloud.api.image.inputs import accepts
from barecloud.services.image import schemas as documents

router = declared.router(prefix="/image/v2/schemas")


@router.get("/image")
@accepts()
async def image(request: Request) -> JSONResponse:
    return JSONResponse(documents.image_schema())


@router.get("/images")
@accepts()
async def images(request: Request) -> JSONResponse:
    return JSONResponse(documents.images_schema())


@router.get("/member")
@accepts()
async def member(request: Request) -> JSONResponse:
    return JSONResponse(documents.member_schema())


@router.get("/members")
@accepts()
async def members(request: Request) -> JSONResponse:
    return JSONResponse(documents.members_schema())
