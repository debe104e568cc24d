"""/v1/lookup and /v1/heartbeat: what the ramdisk agent calls (API 1.22+)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request, Response

from barecloud.api.baremetal import params
from barecloud.api.common import JSONResponse, context, json_body, runtime, source
from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import agent

router = APIRouter(prefix="/baremetal/v1")


@router.get("/lookup")
async def lookup(request: Request) -> JSONResponse:
    params.require(request, (1, 22))
    found = await agent.lookup(runtime(request), request.query_params.get("addresses"),
                               request.query_params.get("node_uuid"))
    return JSONResponse(found)


@router.post("/heartbeat/{ident}", status_code=202)
async def heartbeat(ident: str, request: Request) -> Response:
    params.require(request, (1, 22))
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("Expected a JSON object.")
    await agent.heartbeat(runtime(request), context(request), ident, body, source(request))
    return Response(status_code=202)


def _token(request: Request) -> str | None:
    return request.headers.get("x-agent-token")


@router.get("/agent/{ident}/command")
async def next_command(ident: str, request: Request) -> JSONResponse:
    """Long-poll: the agent's next command, or null after ``wait`` seconds."""
    params.require(request, (1, 22))
    raw = request.query_params.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait) or wait < 0:
        raise InvalidParameter(f"wait must be a number of seconds, not {raw!r}.")
    command = await agent.next_command(runtime(request), ident, _token(request), wait,
                                       source(request))
    return JSONResponse({"command": command})


@router.post("/agent/{ident}/command/{command_id}", status_code=202)
async def report(ident: str, command_id: str, request: Request) -> Response:
    params.require(request, (1, 22))
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("Expected a JSON object.")
    await agent.report(runtime(request), context(request), ident, command_id,
                       _token(request), body, source(request))
    return Response(status_code=202)
