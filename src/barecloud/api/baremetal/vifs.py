"""/v1/nodes/{node}/vifs (1.28): Neutron ports attached to a node, as Ironic's."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import schemas as bm
from barecloud.services.baremetal import vifs as node_vifs

router = declared.router(prefix="/baremetal/v1/nodes")

VIFS = (1, 28)
ATTACH_PORT = (1, 67)  # port_uuid / portgroup_uuid in the attach body


@router.get("/{ident}/vifs")
@accepts()
async def list_vifs(ident: str, request: Request) -> JSONResponse:
    params.require(request, VIFS)
    found = await node_vifs.list_vifs(runtime(request), context(request), ident)
    return JSONResponse({"vifs": [{"id": vif} for vif in found]})


@router.post("/{ident}/vifs", status_code=204)
@accepts(body=bm.ATTACH_VIF)
async def attach_vif(ident: str, request: Request) -> Response:
    v = params.require(request, VIFS)
    body = request.state.body
    port_uuid = body.get("port_uuid") if v >= ATTACH_PORT else None
    group_uuid = body.get("portgroup_uuid") if v >= ATTACH_PORT else None
    if port_uuid is not None and group_uuid is not None:
        raise InvalidParameter("Cannot specify both port_uuid and portgroup_uuid")
    await node_vifs.attach(runtime(request), context(request), ident, body["id"], port_uuid,
                           group_uuid)
    return Response(status_code=204)


@router.delete("/{ident}/vifs", status_code=204)
@router.delete("/{ident}/vifs/", status_code=204)
@accepts()
async def detach_no_vif(ident: str, request: Request) -> Response:
    """As Ironic: a detach that names no VIF is a bad request."""
    params.require(request, VIFS)
    raise InvalidParameter('Missing argument: "vif_id"')


@router.delete("/{ident}/vifs/{vif}", status_code=204)
@accepts()
async def detach_vif(ident: str, vif: str, request: Request) -> Response:
    params.require(request, VIFS)
    await node_vifs.detach(runtime(request), context(request), ident, vif)
    return Response(status_code=204)
