"""/v1/nodes: parse, call one service function, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from barecloud import states
from barecloud.api.baremetal import params, render
from barecloud.api.common import JSONResponse, base_url, context, json_body, runtime
from barecloud.errors import InvalidParameter, NotAcceptable
from barecloud.services.baremetal import node_states, nodes, ports, traits

router = APIRouter(prefix="/baremetal/v1/nodes")

FILTERS = ("provision_state", "driver", "resource_class", "owner", "lessee",
           "conductor_group", "fault", "instance_uuid", "description_contains",
           "chassis_uuid", "conductor")
BOOL_FILTERS = ("maintenance", "associated", "retired")


async def _conductor(request: Request, n: Any) -> str | None:
    return await runtime(request).conductor_hint(n.uuid, n.conductor_group)


async def _list(request: Request, detail: bool) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    if fields is not None and detail and "fields" in request.query_params and \
            request.url.path.endswith("/detail"):
        raise InvalidParameter("Can not specify ?fields when listing nodes/detail")
    if fields is not None:
        render.check_fields(fields, render.NODE_FIELDS, v)
    if params.boolean(request, "detail") and not request.url.path.endswith("/detail"):
        params.require(request, (1, 43))
        detail = True
    filters: dict[str, Any] = {k: request.query_params.get(k) for k in FILTERS}
    filters.update({k: params.boolean(request, k) for k in BOOL_FILTERS})
    if filters["provision_state"] and filters["provision_state"] not in states.STATES:
        raise InvalidParameter(f"Invalid provision state {filters['provision_state']!r}")
    query = nodes.ListQuery(
        limit=params.limit(request),
        marker=request.query_params.get("marker"),
        sort_key=request.query_params.get("sort_key", "id"),
        sort_dir=request.query_params.get("sort_dir", "asc"),
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
        body["next"] = params.next_link(request, "nodes/detail" if detail and
                                        request.url.path.endswith("/detail") else "nodes",
                                        page[-1].uuid)
    return JSONResponse(body)


@router.get("")
async def list_nodes(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
async def list_nodes_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.post("", status_code=201)
async def create_node(request: Request) -> JSONResponse:
    v = params.version(request)
    body = await json_body(request)
    render.reject_newer_input(body, render.NODE_FIELDS, v)
    initial = states.ENROLL if v >= (1, 11) else states.AVAILABLE
    n = await nodes.create(runtime(request), context(request), body, initial=initial)
    base = base_url(request)
    return JSONResponse(
        render.node(n, v, base, conductor=await _conductor(request, n)), status_code=201,
        headers={"Location": f"{base}/baremetal/v1/nodes/{n.uuid}"},
    )


@router.get("/{ident}")
async def show_node(ident: str, request: Request) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.NODE_FIELDS, v)
    n = await nodes.show(runtime(request), context(request), ident)
    return JSONResponse(render.node(n, v, base_url(request), fields=fields,
                                    conductor=await _conductor(request, n)))


@router.patch("/{ident}")
async def update_node(ident: str, request: Request) -> JSONResponse:
    v = params.version(request)
    ops = await json_body(request)
    render.reject_newer_patch(ops, render.NODE_FIELDS, v)
    n = await nodes.update(runtime(request), context(request), ident, ops)
    n = await nodes.show(runtime(request), context(request), n.uuid)
    return JSONResponse(render.node(n, v, base_url(request),
                                    conductor=await _conductor(request, n)))


@router.delete("/{ident}", status_code=204)
async def delete_node(ident: str, request: Request) -> Response:
    await nodes.remove(runtime(request), context(request), ident)
    return Response(status_code=204)


@router.get("/{ident}/states")
async def show_states(ident: str, request: Request) -> JSONResponse:
    n = await nodes.show(runtime(request), context(request), ident, "baremetal:node:get_states")
    return JSONResponse(render.node_states(n, params.version(request)))


@router.put("/{ident}/states/provision", status_code=202)
async def set_provision_state(ident: str, request: Request) -> Response:
    v = params.version(request)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("target"), str):
        raise InvalidParameter("The provision state request needs a 'target'.")
    target = body["target"]
    if target not in states.VERB_EVENTS:
        raise InvalidParameter(f"Invalid provision state target {target!r}.")
    minimum = states.VERB_MIN_VERSION.get(target)
    if minimum and v < minimum:
        raise NotAcceptable(
            f"The \"{target}\" target needs API version {minimum[0]}.{minimum[1]} or later."
        )
    unknown = set(body) - {"target", "configdrive", "clean_steps", "deploy_steps",
                           "rescue_password", "disable_ramdisk"}
    if unknown:
        raise InvalidParameter(f"Unknown attribute(s): {', '.join(sorted(unknown))}")
    await node_states.set_provision_state(runtime(request), context(request), ident, target, body)
    base = base_url(request)
    return Response(status_code=202,
                    headers={"Location": f"{base}/baremetal/v1/nodes/{ident}/states"})


@router.put("/{ident}/states/power", status_code=202)
async def set_power_state(ident: str, request: Request) -> Response:
    v = params.version(request)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("target"), str):
        raise InvalidParameter("The power state request needs a 'target'.")
    unknown = set(body) - {"target", "timeout"}
    if unknown:
        raise InvalidParameter(f"Unknown attribute(s): {', '.join(sorted(unknown))}")
    target, timeout = body["target"], body.get("timeout")
    if v < (1, 27) and (target in (states.SOFT_POWER_OFF, states.SOFT_REBOOT) or timeout):
        raise NotAcceptable(
            "Soft power actions and timeouts need API version 1.27 or later."
        )
    await node_states.set_power_state(runtime(request), context(request), ident, target, timeout)
    return Response(status_code=202)


@router.get("/{ident}/validate")
async def validate(ident: str, request: Request) -> JSONResponse:
    return JSONResponse(await nodes.validate(runtime(request), context(request), ident))


@router.put("/{ident}/maintenance", status_code=202)
async def maintenance_on(ident: str, request: Request) -> Response:
    raw = await request.body()
    reason = None
    if raw:
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) - {"reason"}:
            raise InvalidParameter("Expected a body of the form {\"reason\": \"...\"}.")
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise InvalidParameter("Invalid value for reason: expected a string.")
    await node_states.set_maintenance(runtime(request), context(request), ident, True, reason)
    return Response(status_code=202)


@router.delete("/{ident}/maintenance", status_code=202)
async def maintenance_off(ident: str, request: Request) -> Response:
    await node_states.set_maintenance(runtime(request), context(request), ident, False, None)
    return Response(status_code=202)


@router.get("/{ident}/traits")
async def list_traits(ident: str, request: Request) -> JSONResponse:
    params.require(request, (1, 37))
    return JSONResponse({"traits": await traits.traits_of(runtime(request), context(request),
                                                         ident)})


@router.put("/{ident}/traits", status_code=204)
async def set_traits(ident: str, request: Request) -> Response:
    params.require(request, (1, 37))
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) != {"traits"}:
        raise InvalidParameter("Expected a body of the form {\"traits\": [...]}.")
    await traits.set_traits(runtime(request), context(request), ident, body["traits"])
    return Response(status_code=204)


@router.delete("/{ident}/traits", status_code=204)
async def clear_traits(ident: str, request: Request) -> Response:
    params.require(request, (1, 37))
    await traits.set_traits(runtime(request), context(request), ident, [])
    return Response(status_code=204)


@router.put("/{ident}/traits/{trait}", status_code=204)
async def add_trait(ident: str, trait: str, request: Request) -> Response:
    params.require(request, (1, 37))
    await traits.add_trait(runtime(request), context(request), ident, trait)
    return Response(status_code=204)


@router.delete("/{ident}/traits/{trait}", status_code=204)
async def remove_trait(ident: str, trait: str, request: Request) -> Response:
    params.require(request, (1, 37))
    await traits.remove_trait(runtime(request), context(request), ident, trait)
    return Response(status_code=204)


@router.get("/{ident}/ports")
async def node_ports(ident: str, request: Request) -> JSONResponse:
    return await _node_ports(ident, request, detail=False)


@router.get("/{ident}/ports/detail")
async def node_ports_detail(ident: str, request: Request) -> JSONResponse:
    return await _node_ports(ident, request, detail=True)


async def _node_ports(ident: str, request: Request, detail: bool) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORT_FIELDS, v)
    rows, _ = await ports.list_ports(runtime(request), context(request), node=ident,
                                     limit=params.limit(request),
                                     marker=request.query_params.get("marker"))
    base = base_url(request)
    return JSONResponse({"ports": [render.port(p, nu, v, base, fields=fields, detail=detail)
                                   for p, nu in rows]})


@router.get("/{ident}/history")
async def node_history(ident: str, request: Request) -> JSONResponse:
    params.require(request, (1, 78))
    rows = await nodes.history(runtime(request), context(request), ident, params.limit(request),
                               request.query_params.get("marker"))
    n = await nodes.show(runtime(request), context(request), ident)
    detail = bool(params.boolean(request, "detail"))
    base = base_url(request)
    return JSONResponse({"history": [render.history(h, base, n.uuid, detail) for h in rows]})


@router.get("/{ident}/history/{event}")
async def node_history_event(ident: str, event: str, request: Request) -> JSONResponse:
    params.require(request, (1, 78))
    n = await nodes.show(runtime(request), context(request), ident)
    h = await nodes.history_event(runtime(request), context(request), ident, event)
    return JSONResponse(render.history(h, base_url(request), n.uuid, True))


@router.get("/{ident}/management/boot_device")
async def get_boot_device(ident: str, request: Request) -> JSONResponse:
    return JSONResponse(await node_states.boot_device(runtime(request), context(request), ident))


@router.get("/{ident}/management/boot_device/supported")
async def supported_boot_devices(ident: str, request: Request) -> JSONResponse:
    from barecloud.drivers.base import BOOT_DEVICES

    await nodes.show(runtime(request), context(request), ident, "baremetal:node:get_boot_device")
    return JSONResponse({"supported_boot_devices": list(BOOT_DEVICES)})


@router.put("/{ident}/management/boot_device", status_code=204)
async def set_boot_device(ident: str, request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("Expected a JSON object.")
    await node_states.set_boot_device(runtime(request), context(request), ident,
                                body.get("boot_device"), body.get("persistent", False))
    return Response(status_code=204)
