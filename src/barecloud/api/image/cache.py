"""/image/v2/cache: Glance's image cache API (an admin's; services/image/cache.py)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.image.inputs import accepts
from barecloud.services.image import cache

router = declared.router(prefix="/image/v2/cache")


@router.get("")
@accepts()
async def cache_state(request: Request) -> JSONResponse:
    return JSONResponse(await cache.state(runtime(request), context(request)))


@router.put("/{image_id}", status_code=202)
@accepts()
async def queue_image(image_id: str, request: Request) -> Response:
    await cache.queue(runtime(request), context(request), image_id)
    return Response(status_code=202)


@router.delete("/{image_id}", status_code=204)
@accepts()
async def delete_cached_image(image_id: str, request: Request) -> Response:
    await cache.forget(runtime(request), context(request), image_id)
    return Response(status_code=204)


@router.delete("", status_code=204)
@accepts()
async def clear_cache(request: Request) -> Response:
    target = request.headers.get("x-image-cache-clear-target", "")
    await cache.clear(runtime(request), context(request), target)
    return Response(status_code=204)
