"""/image/v2/images/{id}/file: the image data, streamed both ways."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from barecloud.api import accepts as declared
from barecloud.api import files
from barecloud.api.common import context, runtime
from barecloud.api.image import params
from barecloud.api.image.errors import error_response
from barecloud.api.image.inputs import accepts
from barecloud.services.image import cache, images, locations, schemas, staging, store

log = logging.getLogger(__name__)

router = declared.router(prefix="/image/v2/images")


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (uvicorn stops reading while we write)."""
    received = 0
    try:
        async for chunk in request.stream():
            if chunk:
                received += len(chunk)
                yield chunk
    except ClientDisconnect:
        # One line, as any body cut short (api/limits.py); the image is killed.
        log.warning("%s %s: the client hung up after %d bytes of the request body",
                    request.method, request.url.path, received)
        raise store.UploadInterrupted(
            "The upload was interrupted: the client disconnected before sending all the data."
        ) from None


@router.put("/{image_id}/file", status_code=204)
@router.put("/{image_id}/stage", status_code=204)
# Declared for /openapi.json only: octets are streamed to the store, not read as JSON.
@accepts(body=schemas.IMAGE_DATA, content_type=schemas.DATA_MEDIA_TYPE)
async def upload(image_id: str, request: Request) -> Response:
    """``/file``: the image's data; ``/stage``: data for a later import (staging.py)."""
    kind = params.media_type(request)
    if kind != schemas.DATA_MEDIA_TYPE:
        return error_response(415, f"Invalid content type {kind}")
    staged = request.url.path.rstrip("/").endswith("/stage")
    receive = staging.stage if staged else images.upload
    await receive(runtime(request), context(request), image_id, _body(request))
    return Response(status_code=204)


@router.get("/{image_id}/file")
@accepts()
async def download(image_id: str, request: Request) -> Response:
    image, path = await images.data(runtime(request), context(request), image_id)
    if path is None:
        return Response(status_code=204)
    path = await cache.hit(runtime(request), image.uuid) or path
    if isinstance(path, str):  # at an external location only (locations.py)
        # Chunked: the size recorded is what the URL said when it was added.
        headers = {"Content-MD5": image.checksum} if image.checksum else {}
        return StreamingResponse(locations.stream(path), headers=headers,
                                 media_type="application/octet-stream")
    f, size = await files.open_file(path, f"No image data could be found for {image_id}")
    return files.stream(request, f, size,
                        {"Content-MD5": image.checksum} if image.checksum else {})
