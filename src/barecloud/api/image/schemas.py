"""/image/v2/schemas: the JSON schemas Glance's clients read."""

from __future__ import annotations

from fastapi import APIRouter

from barecloud.api.common import JSONResponse
from barecloud.services.image import schema

router = APIRouter(prefix="/image/v2/schemas")


@router.get("/image")
async def image() -> JSONResponse:
    return JSONResponse(schema.image_schema())


@router.get("/images")
async def images() -> JSONResponse:
    return JSONResponse(schema.images_schema())


@router.get("/member")
async def member() -> JSONResponse:
    return JSONResponse(schema.member_schema())


@router.get("/members")
async def members() -> JSONResponse:
    return JSONResponse(schema.members_schema())
