"""POST /servers/{id}/action: one action per body, as Nova dispatches them."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.inputs import by_version
from barecloud.errors import InvalidParameter
from barecloud.services.compute import actions as server_actions
from barecloud.services.compute import (
    console_log,
    locks,
    queries,
    remote_consoles,
    schemas,
    server_groups,
)
from barecloud.services.compute import (
    nova_floating_ips as fips,
)

router = declared.router(prefix="/servers")

# Nova actions that need what a bare-metal machine here does not have
# (snapshots, hypervisor tricks, moving a disk between machines).
UNSUPPORTED = {
    "createBackup": "createBackup is not supported: barecloud keeps no snapshots of "
                    "bare-metal servers (back up from inside the machine).",
    "createImage": "createImage is not supported: barecloud cannot snapshot a bare-metal "
                   "server's disk.",
}
# Before 2.6 (POST /servers/{id}/remote-consoles): the action and its protocol.
CONSOLE_ACTIONS = {"os-getSerialConsole": ("serial", "serial"),
                   "os-getVNCConsole": ("vnc", "novnc")}
REMOTE_CONSOLES = (2, 6)
# Nova's floating-IP proxy actions, up to 2.43.
FLOATING_IP_ACTIONS = {"addFloatingIp": fips.associate, "removeFloatingIp": fips.disassociate}
OTHER_NOVA_ACTIONS = (
    "pause", "unpause", "suspend", "resume", "revertResize",
    "migrate", "os-migrateLive", "evacuate", "shelve", "shelveOffload", "unshelve",
    "rescue", "unrescue", "changePassword", "trigger_crash_dump",
    "resetNetwork", "os-getVNCConsole", "os-getSPICEConsole",
    "os-getRDPConsole", "os-getSerialConsole",  # the console ones: from 2.6 (remote-consoles)
)


def _action(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or not body:
        raise InvalidParameter("Malformed request body")
    if len(body) != 1:
        raise InvalidParameter("Malformed request body: too many body keys")
    return next(iter(body.items()))


def _length(args: dict[str, Any] | None) -> int | None:
    return schemas.to_int(args or {}, "length", schemas.CONSOLE_LENGTH)


@router.post("/{server_id}/action")
@by_version(body=schemas.SERVER_ACTION)
async def server_action(server_id: str, request: Request) -> Response:
    rt, ctx = runtime(request), context(request)
    name, args = _action(request.state.body)
    if name == "reboot":
        await server_actions.reboot(rt, ctx, server_id, args)
    elif name == "os-start":
        await server_actions.start(rt, ctx, server_id)
    elif name == "os-stop":
        await server_actions.stop(rt, ctx, server_id)
    elif name == "rebuild":
        await server_actions.rebuild(rt, ctx, server_id, args)
        view = await queries.get(rt, ctx, server_id)
        return JSONResponse({"server": render.server(request, ctx, view, "rebuild")},
                            status_code=202)
    elif name == "resize":
        await server_actions.resize(rt, ctx, server_id, args)
    elif name == "confirmResize":
        await server_actions.confirm_resize(rt, ctx, server_id)
        return Response(status_code=204)  # as Nova's
    elif name == "os-getConsoleOutput":
        text = await console_log.output(rt, ctx, server_id, _length(args))
        return JSONResponse({"output": text})
    elif name in CONSOLE_ACTIONS and params.version(request) < REMOTE_CONSOLES:
        protocol, default = CONSOLE_ACTIONS[name]
        kind = (args or {}).get("type") or default
        url = await remote_consoles.create(rt, ctx, server_id, protocol, kind)
        return JSONResponse({"console": {"type": kind, "url": url}})
    elif name == "os-resetState":
        await server_actions.reset_state(rt, ctx, server_id, args)
    elif name == "injectNetworkInfo":
        await server_actions.inject_network_info(rt, ctx, server_id)
    elif name == "addSecurityGroup":
        await server_groups.add(rt, ctx, server_id, args)
    elif name == "removeSecurityGroup":
        await server_groups.remove(rt, ctx, server_id, args)
    elif name in ("restore", "forceDelete"):
        await server_actions.soft_deleted_only(rt, ctx, server_id, name)
    elif name == "lock":
        reason = (args or {}).get("locked_reason") if isinstance(args, dict) else None
        await locks.lock(rt, ctx, server_id, reason)
    elif name == "unlock":
        await locks.unlock(rt, ctx, server_id)
    elif name in FLOATING_IP_ACTIONS and params.version(request) <= fips.ASSOCIATE_LAST:
        await FLOATING_IP_ACTIONS[name](rt, ctx, server_id, args)
    elif name in UNSUPPORTED:
        await queries.get(rt, ctx, server_id)  # an unknown server is still a 404
        raise InvalidParameter(UNSUPPORTED[name])
    elif name in OTHER_NOVA_ACTIONS:
        await queries.get(rt, ctx, server_id)
        raise InvalidParameter(f"The action {name} is not supported by barecloud.")
    else:
        raise InvalidParameter(f"There is no such action: {name}")
    return Response(status_code=202)


@router.post("/{server_id}/remote-consoles")
@by_version(body=schemas.REMOTE_CONSOLE)
async def remote_console(server_id: str, request: Request) -> JSONResponse:
    """A URL with a token that opens the server's console (2.6)."""
    params.require(request, REMOTE_CONSOLES)
    body = request.state.body["remote_console"]
    url = await remote_consoles.create(runtime(request), context(request), server_id,
                                       body["protocol"], body["type"])
    return JSONResponse({"remote_console": {"protocol": body["protocol"],
                                            "type": body["type"], "url": url}})
