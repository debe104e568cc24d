"""/boot/images/{id}: an image's raw bytes for the machine being deployed.

No authentication (a machine in its ramdisk has no credentials; what it
writes is checked against the sha512 the conductor gave it).  Errors are a
plain ``{"error": ...}``: the agent only reads the status.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api import files
from barecloud.api.common import JSONResponse, runtime
from barecloud.errors import BarecloudError
from barecloud.services import images

router = APIRouter(prefix="/boot/images")


@router.api_route("/{image_id}", methods=["GET", "HEAD"], include_in_schema=False)
async def raw_image(image_id: str, request: Request) -> Response:
    try:
        raw = await images.raw_image(runtime(request), image_id)
        f, size = await files.open_file(raw.path, f"Image {image_id} has no raw data.")
    except BarecloudError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.code)
    return files.stream(request, f, size, {"X-Image-Sha512": raw.sha512})
