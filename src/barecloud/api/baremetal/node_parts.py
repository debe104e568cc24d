"""Node sub-resources of API 1.81-1.89: inventory, children, firmware, virtual media;
and the shards the nodes are in.  Each is 404 to older versions, as Ironic's."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.errors import MethodNotAllowed
from barecloud.services.baremetal import node_parts
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1")

INVENTORY = (1, 81)
SHARDS = (1, 82)
CHILDREN = (1, 83)
FIRMWARE = (1, 86)
VMEDIA = (1, 89)


@router.get("/shards")
@accepts()
async def shards(request: Request) -> JSONResponse:
    """Ironic's ``GET /v1/shards``: each shard with its count of nodes, the largest first."""
    params.require(request, SHARDS)
    return JSONResponse({"shards": await node_parts.shards(runtime(request),
                                                           context(request))})


@router.get("/nodes/{ident}/inventory")
@accepts()
async def inventory(ident: str, request: Request) -> JSONResponse:
    params.require(request, INVENTORY)
    return JSONResponse(await node_parts.inventory(runtime(request), context(request), ident))


@router.get("/nodes/{ident}/children")
@accepts()
async def children(ident: str, request: Request) -> JSONResponse:
    params.require(request, CHILDREN)
    return JSONResponse({"children": await node_parts.children(runtime(request),
                                                               context(request), ident)})


@router.get("/nodes/{ident}/firmware")
@accepts()
async def firmware(ident: str, request: Request) -> JSONResponse:
    """The node's cached firmware components: barecloud's firmware interfaces cache
    none (``fake`` has no components, the others are ``no-firmware``)."""
    params.require(request, FIRMWARE)
    await node_parts.firmware(runtime(request), context(request), ident)
    return JSONResponse({"firmware": []})


@router.put("/nodes/{ident}/vmedia")
@accepts()
async def put_vmedia(ident: str, request: Request) -> Response:
    """Ironic attaches with POST: a PUT is 405 where the resource exists."""
    params.require(request, VMEDIA)
    raise MethodNotAllowed("The method PUT is not allowed for virtual media.")


@router.post("/nodes/{ident}/vmedia", status_code=204)
@accepts(body=bm.VMEDIA)
async def attach_vmedia(ident: str, request: Request) -> Response:
    params.require(request, VMEDIA)
    await node_parts.attach_vmedia(runtime(request), context(request), ident,
                                   request.state.body)
    return Response(status_code=204)


@router.delete("/nodes/{ident}/vmedia", status_code=204)
@router.delete("/nodes/{ident}/vmedia/", status_code=204)
@accepts(query=bm.DETACH_VMEDIA_QUERY)
async def detach_vmedia(ident: str, request: Request) -> Response:
    params.require(request, VMEDIA)
    await node_parts.detach_vmedia(runtime(request), context(request), ident,
                                   params.query(request).get("device_types"))
    return Response(status_code=204)
