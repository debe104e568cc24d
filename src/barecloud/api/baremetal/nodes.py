"""/v1/nodes: parse, call one service function, render."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud import states
from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter, NotAcceptable, NotFound
from barecloud.services.baremetal import (
    node_states,
    nodes,
    ports,
    raid,
    serial_console,
    traits,
)
from barecloud.services.baremetal import schemas as bm
from barecloud.services.console_tokens import ws_base

router = declared.router(prefix="/baremetal/v1/nodes")

FILTERS = ("provision_state", "driver", "resource_class", "owner", "lessee",
           "conductor_group", "fault", "instance_uuid", "description_contains",
           "chassis_uuid", "conductor", "shard", "parent_node")
BOOL_FILTERS = ("maintenance", "associated", "retired", "sharded", "include_children")
# The version that introduced each filter (Ironic's api/controllers/v1/utils.py):
# asking for one before it is 406.
FILTER_VERSIONS = {"provision_state": (1, 9), "driver": (1, 16), "resource_class": (1, 21),
                   "fault": (1, 42), "conductor_group": (1, 46), "conductor": (1, 49),
                   "owner": (1, 50), "description_contains": (1, 51), "retired": (1, 61),
                   "lessee": (1, 65), "shard": (1, 82), "sharded": (1, 82),
                   "parent_node": (1, 83), "include_children": (1, 83)}
FAULTS = ("power failure", "clean failure", "rescue abort failure", "service failure")


async def _conductor(request: Request, n: Any) -> str | None:
    return await runtime(request).conductor_hint(n.uuid, n.conductor_group)


async def listing(request: Request, detail: bool, chassis_uuid: str | None = None,
                  path: str = "nodes") -> JSONResponse:
    """A page of nodes (``chassis_uuid``: of that chassis, at ``path``: its nodes)."""
    v = params.version(request)
    q = params.query(request)
    fields = params.fields(request)
    if fields is not None and detail and request.url.path.endswith("/detail"):
        raise InvalidParameter("Can not specify ?fields when listing nodes/detail")
    if fields is not None:
        render.check_fields(fields, render.NODE_FIELDS, v)
    if q.get("detail") and not request.url.path.endswith("/detail"):
        params.require(request, (1, 43))
        detail = True
    filters: dict[str, Any] = {k: q.get(k) for k in FILTERS + BOOL_FILTERS}
    for key, since in FILTER_VERSIONS.items():
        if filters[key] is not None and v < since:
            raise NotAcceptable(f"Filtering nodes by {key} needs API version "
                                f"{since[0]}.{since[1]} or later.")
    if filters["fault"] is not None and filters["fault"] not in FAULTS:
        raise InvalidParameter(f"Unrecognized fault \"{filters['fault']}\" is specified, "
                               f"allowed faults are {', '.join(FAULTS)}")
    if chassis_uuid is not None:
        filters["chassis_uuid"] = chassis_uuid
    if filters["shard"] is not None:
        filters["shard"] = [x.strip() for x in filters["shard"].split(",") if x.strip()]
    if filters["provision_state"] and filters["provision_state"] not in states.STATES:
        raise InvalidParameter(f"Invalid provision state {filters['provision_state']!r}")
    query = nodes.ListQuery(
        limit=q.get("limit"),
        marker=q.get("marker"),
        sort_key=q.get("sort_key", "id"),
        sort_dir=q.get("sort_dir", "asc"),
        filters=filters,
    )
    rt = runtime(request)
    page, more = await nodes.list_nodes(rt, context(request), query)
    base = base_url(request)
    wanted_conductor = filters.get("conductor")
    items = []
    for n in page:
        cond = await _conductor(request, n)
        if wanted_conductor and cond != wanted_conductor:
            continue
        items.append(render.node(n, v, base, fields=fields, detail=detail, conductor=cond))
    body: dict[str, Any] = {"nodes": items}
    if more and page:
        body["next"] = params.next_link(request, f"{path}/detail" if detail and
                                        request.url.path.endswith("/detail") else path,
                                        page[-1].uuid)
    return JSONResponse(body)


@router.get("")
@accepts(query=bm.LIST_NODES_QUERY)
async def list_nodes(request: Request) -> JSONResponse:
    return await listing(request, detail=False)


@router.get("/detail")
@accepts(query=bm.LIST_NODES_QUERY)
async def list_nodes_detail(request: Request) -> JSONResponse:
    return await listing(request, detail=True)


@router.post("", status_code=201)
@accepts(body=bm.CREATE_NODE)
async def create_node(request: Request) -> JSONResponse:
    v = params.version(request)
    body = request.state.body
    render.reject_newer_input(body, render.NODE_FIELDS, v)
    initial = states.ENROLL if v >= (1, 11) else states.AVAILABLE
    n = await nodes.create(runtime(request), context(request), body, initial=initial)
    base = base_url(request)
    return JSONResponse(
        render.node(n, v, base, conductor=await _conductor(request, n)), status_code=201,
        headers={"Location": f"{base}/baremetal/v1/nodes/{n.uuid}"},
    )


@router.get("/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_node(ident: str, request: Request) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.NODE_FIELDS, v)
    n = await nodes.show(runtime(request), context(request), ident)
    return JSONResponse(render.node(n, v, base_url(request), fields=fields,
                                    conductor=await _conductor(request, n)))


@router.patch("/{ident}")
@accepts(body=bm.PATCH, query=bm.PATCH_NODE_QUERY)
async def update_node(ident: str, request: Request) -> JSONResponse:
    v = params.version(request)
    ops = request.state.body
    render.reject_newer_patch(ops, render.NODE_FIELDS, v)
    reset = params.query(request).get("reset_interfaces")
    if reset is not None:
        params.require_acceptable(request, (1, 45))
    n = await nodes.update(runtime(request), context(request), ident, ops,
                           chassis_removable=v >= (1, 25), reset_interfaces=bool(reset))
    n = await nodes.show(runtime(request), context(request), n.uuid)
    return JSONResponse(render.node(n, v, base_url(request),
                                    conductor=await _conductor(request, n)))


@router.delete("/{ident}", status_code=204)
@accepts()
async def delete_node(ident: str, request: Request) -> Response:
    await nodes.remove(runtime(request), context(request), ident)
    return Response(status_code=204)


@router.get("/{ident}/states")
@accepts()
async def show_states(ident: str, request: Request) -> JSONResponse:
    n = await nodes.show(runtime(request), context(request), ident, "baremetal:node:get_states")
    return JSONResponse(render.node_states(n, params.version(request)))


@router.put("/{ident}/states/provision", status_code=202)
@accepts(body=bm.PROVISION)
async def set_provision_state(ident: str, request: Request) -> Response:
    v = params.version(request)
    body = request.state.body
    target = body["target"]
    minimum = states.VERB_MIN_VERSION.get(target)
    if minimum and v < minimum:
        raise NotAcceptable(
            f"The \"{target}\" target needs API version {minimum[0]}.{minimum[1]} or later."
        )
    if target in states.NOWHERE_VERBS:
        n = await nodes.show(runtime(request), context(request), ident,
                             "baremetal:node:set_provision_state")
        raise InvalidParameter(f"The requested action \"{target}\" can not be performed on "
                               f"node \"{n.uuid}\" while it is in state "
                               f"\"{n.provision_state}\".")
    if body.get("runbook") is not None and v < (1, 92):
        raise NotAcceptable("The \"runbook\" parameter needs API version 1.92 or later.")
    await node_states.set_provision_state(runtime(request), context(request), ident, target, body)
    base = base_url(request)
    return Response(status_code=202,
                    headers={"Location": f"{base}/baremetal/v1/nodes/{ident}/states"})


@router.get("/{ident}/bios")
@accepts(query=bm.BIOS_QUERY)
async def bios_settings(ident: str, request: Request) -> JSONResponse:
    """Ironic's cached BIOS settings (1.40).  barecloud's hardware types have no BIOS
    interface (``bios_interface`` is ``no-bios``), so no node has any: the list is
    empty, as Ironic's for a ``no-bios`` node."""
    params.require(request, (1, 40))
    await nodes.show(runtime(request), context(request), ident, "baremetal:node:bios:get")
    return JSONResponse({"bios": []})


@router.get("/{ident}/bios/{name}")
@accepts()
async def bios_setting(ident: str, name: str, request: Request) -> JSONResponse:
    params.require(request, (1, 40))
    n = await nodes.show(runtime(request), context(request), ident, "baremetal:node:bios:get")
    raise NotFound(f"Node {n.uuid} doesn't have a BIOS setting '{name}'")


@router.put("/{ident}/states/raid", status_code=204)
@accepts(body=bm.RAID_CONFIG)
async def set_raid_config(ident: str, request: Request) -> Response:
    """Ironic's target RAID configuration (1.12), through the node's RAID interface."""
    params.require_acceptable(request, (1, 12))
    await raid.set_target(runtime(request), context(request), ident, request.state.body)
    return Response(status_code=204)


@router.put("/{ident}/states/power", status_code=202)
@accepts(body=bm.POWER)
async def set_power_state(ident: str, request: Request) -> Response:
    v = params.version(request)
    body = request.state.body
    target, timeout = body["target"], body.get("timeout")
    if v < (1, 27) and (target in (states.SOFT_POWER_OFF, states.SOFT_REBOOT) or timeout):
        raise NotAcceptable(
            "Soft power actions and timeouts need API version 1.27 or later."
        )
    await node_states.set_power_state(runtime(request), context(request), ident, target, timeout)
    return Response(status_code=202)


@router.get("/{ident}/states/console")
@router.get("/states/console/{ident}")
@accepts()
async def show_console(ident: str, request: Request) -> JSONResponse:
    """Also at ``/nodes/states/console/{node}``: Ironic's controllers reach the states
    through the nodes collection too (ironic-tempest-plugin's client asks there)."""
    return JSONResponse(await serial_console.show(runtime(request), context(request), ident,
                                                  ws_base(base_url(request))))


@router.put("/{ident}/states/console", status_code=202)
@accepts(body=bm.CONSOLE)
async def set_console_state(ident: str, request: Request) -> Response:
    await serial_console.set_state(runtime(request), context(request), ident,
                                   request.state.body["enabled"])
    return Response(status_code=202, headers={
        "Location": f"{base_url(request)}/baremetal/v1/nodes/{ident}/states/console"})


@router.get("/{ident}/validate")
@accepts()
async def validate(ident: str, request: Request) -> JSONResponse:
    return JSONResponse(await nodes.validate(runtime(request), context(request), ident))


@router.put("/{ident}/maintenance", status_code=202)
@accepts(body=bm.MAINTENANCE, body_required=False)
async def maintenance_on(ident: str, request: Request) -> Response:
    reason = (request.state.body or {}).get("reason")
    await node_states.set_maintenance(runtime(request), context(request), ident, True, reason)
    return Response(status_code=202)


@router.delete("/{ident}/maintenance", status_code=202)
@accepts()
async def maintenance_off(ident: str, request: Request) -> Response:
    await node_states.set_maintenance(runtime(request), context(request), ident, False, None)
    return Response(status_code=202)


@router.get("/{ident}/traits")
@accepts()
async def list_traits(ident: str, request: Request) -> JSONResponse:
    params.require_acceptable(request, (1, 37))
    return JSONResponse({"traits": await traits.traits_of(runtime(request), context(request),
                                                         ident)})


@router.put("/{ident}/traits", status_code=204)
@accepts(body=bm.TRAITS)
async def set_traits(ident: str, request: Request) -> Response:
    params.require_write(request, (1, 37))
    await traits.set_traits(runtime(request), context(request), ident,
                            request.state.body["traits"])
    return Response(status_code=204)


@router.delete("/{ident}/traits", status_code=204)
@accepts()
async def clear_traits(ident: str, request: Request) -> Response:
    params.require(request, (1, 37))
    await traits.set_traits(runtime(request), context(request), ident, [])
    return Response(status_code=204)


@router.put("/{ident}/traits/{trait}", status_code=204)
@accepts()
async def add_trait(ident: str, trait: str, request: Request) -> Response:
    params.require_write(request, (1, 37))
    await traits.add_trait(runtime(request), context(request), ident, trait)
    return Response(status_code=204)


@router.delete("/{ident}/traits/{trait}", status_code=204)
@accepts()
async def remove_trait(ident: str, trait: str, request: Request) -> Response:
    params.require(request, (1, 37))
    await traits.remove_trait(runtime(request), context(request), ident, trait)
    return Response(status_code=204)


@router.get("/{ident}/ports")
@accepts(query=bm.NODE_PORTS_QUERY)
async def node_ports(ident: str, request: Request) -> JSONResponse:
    return await _node_ports(ident, request, detail=False)


@router.get("/{ident}/ports/detail")
@accepts(query=bm.NODE_PORTS_QUERY)
async def node_ports_detail(ident: str, request: Request) -> JSONResponse:
    return await _node_ports(ident, request, detail=True)


async def _node_ports(ident: str, request: Request, detail: bool) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORT_FIELDS, v)
    q = params.query(request)
    rows, _ = await ports.list_ports(runtime(request), context(request), node=ident,
                                     limit=q.get("limit"), marker=q.get("marker"))
    base = base_url(request)
    return JSONResponse({"ports": [render.port(p, nu, v, base, fields=fields, detail=detail)
                                   for p, nu in rows]})


@router.get("/{ident}/history")
@accepts(query=bm.HISTORY_QUERY)
async def node_history(ident: str, request: Request) -> JSONResponse:
    params.require(request, (1, 78))
    q = params.query(request)
    rows = await nodes.history(runtime(request), context(request), ident, q.get("limit"),
                               q.get("marker"))
    n = await nodes.show(runtime(request), context(request), ident)
    detail = bool(q.get("detail"))
    base = base_url(request)
    return JSONResponse({"history": [render.history(h, base, n.uuid, detail) for h in rows]})


@router.get("/{ident}/history/{event}")
@accepts()
async def node_history_event(ident: str, event: str, request: Request) -> JSONResponse:
    params.require(request, (1, 78))
    n = await nodes.show(runtime(request), context(request), ident)
    h = await nodes.history_event(runtime(request), context(request), ident, event)
    return JSONResponse(render.history(h, base_url(request), n.uuid, True))


@router.get("/{ident}/management/boot_device")
@accepts()
async def get_boot_device(ident: str, request: Request) -> JSONResponse:
    return JSONResponse(await node_states.boot_device(runtime(request), context(request), ident))


@router.get("/{ident}/management/boot_device/supported")
@accepts()
async def supported_boot_devices(ident: str, request: Request) -> JSONResponse:
    from barecloud.drivers.base import BOOT_DEVICES

    await nodes.show(runtime(request), context(request), ident, "baremetal:node:get_boot_device")
    return JSONResponse({"supported_boot_devices": list(BOOT_DEVICES)})


@router.put("/{ident}/management/boot_device", status_code=204)
@accepts(body=bm.BOOT_DEVICE)
async def set_boot_device(ident: str, request: Request) -> Response:
    body = request.state.body
    await node_states.set_boot_device(runtime(request), context(request), ident,
                                body.get("boot_device"), body.get("persistent", False))
    return Response(status_code=204)
