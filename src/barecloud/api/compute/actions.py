"""POST /servers/{id}/action: one action per body, as Nova dispatches them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, json_body, runtime
from barecloud.api.compute import params, render
from barecloud.errors import InvalidParameter
from barecloud.services.compute import actions as server_actions
from barecloud.services.compute import console_log, queries
from barecloud.services.compute import input as v

router = APIRouter(prefix="/servers")

# Nova actions that need what a bare-metal machine here does not have
# (snapshots, hypervisor tricks, moving a disk between machines).
UNSUPPORTED = {
    "createBackup": "createBackup is not supported: barecloud keeps no snapshots of "
                    "bare-metal servers (back up from inside the machine).",
    "createImage": "createImage is not supported: barecloud cannot snapshot a bare-metal "
                   "server's disk.",
}
OTHER_NOVA_ACTIONS = (
    "pause", "unpause", "suspend", "resume", "resize", "confirmResize", "revertResize",
    "migrate", "os-migrateLive", "evacuate", "shelve", "shelveOffload", "unshelve", "lock",
    "unlock", "rescue", "unrescue", "changePassword", "addSecurityGroup",
    "removeSecurityGroup", "os-resetState", "trigger_crash_dump", "injectNetworkInfo",
    "resetNetwork", "restore", "forceDelete", "os-getVNCConsole", "os-getSPICEConsole",
    "os-getRDPConsole", "os-getSerialConsole",
)


def _action(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or not body:
        raise InvalidParameter("Malformed request body")
    if len(body) != 1:
        raise InvalidParameter("Malformed request body: too many body keys")
    return next(iter(body.items()))


def _length(args: Any) -> int | None:
    if args is None:
        return None
    if not isinstance(args, dict):
        raise v.invalid("os-getConsoleOutput", args, f"{args!r} is not of type 'object'")
    v.only(args, ("length",), "os-getConsoleOutput")
    return v.integer(args, "length", minimum=-1)


@router.post("/{server_id}/action")
async def server_action(server_id: str, request: Request) -> Response:
    rt, ctx = runtime(request), context(request)
    name, args = _action(await json_body(request))
    if name == "reboot":
        await server_actions.reboot(rt, ctx, server_id, args)
    elif name == "os-start":
        await server_actions.start(rt, ctx, server_id)
    elif name == "os-stop":
        await server_actions.stop(rt, ctx, server_id)
    elif name == "rebuild":
        await server_actions.rebuild(rt, ctx, server_id, args, params.version(request))
        view = await queries.get(rt, ctx, server_id)
        return JSONResponse({"server": render.server(request, ctx, view)}, status_code=202)
    elif name == "os-getConsoleOutput":
        text = await console_log.output(rt, ctx, server_id, _length(args))
        return JSONResponse({"output": text})
    elif name in UNSUPPORTED:
        await queries.get(rt, ctx, server_id)  # an unknown server is still a 404
        raise InvalidParameter(UNSUPPORTED[name])
    elif name in OTHER_NOVA_ACTIONS:
        await queries.get(rt, ctx, server_id)
        raise InvalidParameter(f"The action {name} is not supported for barecloud's "
                               "bare-metal servers.")
    else:
        raise InvalidParameter(f"There is no such action: {name}")
    return Response(status_code=202)
