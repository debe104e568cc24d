"""/boot/images/{id}: an image's raw bytes for the machine being deployed.

Only against the signed URL of the node's write_image command
(``?node=&expires=&signature=``, services/boot/images.py): a machine in its
ramdisk has no other credential.  Errors are a plain ``{"error": ...}``: the
agent only reads the status; refusals are 401, as Swift's temporary URLs.
"""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api import files
from barecloud.api.boot.inputs import accepts
from barecloud.api.common import JSONResponse, runtime
from barecloud.errors import BarecloudError
from barecloud.services.boot import images as boot_images

router = declared.router(prefix="/boot/images")
# The signed URL's parts; services/boot/images.py checks them (401 when wrong).
SIGNED_QUERY = {"type": "object", "properties": {
    "node": {"type": "string"}, "expires": {"type": "string"}, "signature": {"type": "string"}}}


@router.api_route("/{image_id}", methods=["GET", "HEAD"], include_in_schema=False)
@accepts(query=SIGNED_QUERY)
async def raw_image(image_id: str, request: Request) -> Response:
    query = request.state.query
    try:
        raw = await boot_images.machine_image(runtime(request), image_id, query.get("node"),
                                              query.get("expires"), query.get("signature"))
        f, size = await files.open_file(raw.path, f"Image {image_id} has no raw data.")
    except BarecloudError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.code)
    return files.stream(request, f, size, {"X-Image-Sha512": raw.sha512})
