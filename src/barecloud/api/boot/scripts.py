"""/boot/: what a network-booting machine fetches over HTTP (no auth: firmware can't).

``boot.ipxe`` is the script DHCP points iPXE at; it chains the per-MAC
script the ipxe boot interface wrote, which loads the agent kernel and
ramdisk.  See docs/design/provisioning.md.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from barecloud.api import accepts as declared
from barecloud.api.boot.inputs import accepts
from barecloud.api.common import runtime, source
from barecloud.drivers.ipxe import BOOT_SCRIPT
from barecloud.services.boot import scripts as boot

router = declared.router(prefix="/boot", include_in_schema=False)

BINARY = "application/octet-stream"


@router.get("/boot.ipxe")
@accepts()
async def boot_script(request: Request) -> PlainTextResponse:
    return PlainTextResponse(BOOT_SCRIPT)


@router.get("/nodes/{name}.ipxe")
@accepts()
async def node_script(name: str, request: Request) -> PlainTextResponse:
    """Once per preparation: it carries the agent token (services/boot/scripts.py)."""
    return PlainTextResponse(await boot.node_script(runtime(request), name, source(request)),
                             headers={"Cache-Control": "no-store"})


@router.get("/agent/kernel")
@accepts()
async def agent_kernel(request: Request) -> Response:
    kernel = boot.agent_kernel(runtime(request).settings)
    if isinstance(kernel, bytes):
        return Response(kernel, media_type=BINARY)
    return FileResponse(kernel, media_type=BINARY)


@router.get("/agent/ramdisk")
@accepts()
async def agent_ramdisk(request: Request) -> FileResponse:
    return FileResponse(await boot.agent_ramdisk(runtime(request).settings), media_type=BINARY)
