"""GET /extensions: Nova's fixed listing of the old extension names."""

from __future__ import annotations

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context
from barecloud.api.compute.inputs import accepts
from barecloud.services import policy
from barecloud.services.compute import extensions

router = declared.router()


@router.get("/extensions")
@accepts()
async def list_extensions(request: Request) -> JSONResponse:
    policy.authorize(context(request), "compute:extensions")
    return JSONResponse({"extensions": extensions.listing()})


@router.get("/extensions/{alias}")
@accepts()
async def show_extension(alias: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "compute:extensions")
    return JSONResponse({"extension": extensions.one(alias)})
