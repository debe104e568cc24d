"""/v1/lookup and /v1/heartbeat: what the ramdisk agent calls (API 1.22+)."""

from __future__ import annotations

import math

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, context, runtime, source
from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import agent
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1")


@router.get("/lookup")
@accepts(query=bm.LOOKUP_QUERY)
async def lookup(request: Request) -> JSONResponse:
    params.require(request, (1, 22))
    q = params.query(request)
    found = await agent.lookup(runtime(request), q.get("addresses"), q.get("node_uuid"))
    return JSONResponse(found)


@router.post("/heartbeat/{ident}", status_code=202)
@accepts(body=bm.HEARTBEAT)
async def heartbeat(ident: str, request: Request) -> Response:
    params.require(request, (1, 22))
    await agent.heartbeat(runtime(request), context(request), ident, request.state.body,
                          source(request))
    return Response(status_code=202)


@router.post("/heartbeat", status_code=202)
@accepts(body=bm.HEARTBEAT_NAMED)
async def heartbeat_named_in_body(request: Request) -> Response:
    """The node named in the body (``node_ident``), as Ironic's controller also
    takes it (ironic-tempest-plugin's client sends it so)."""
    params.require(request, (1, 22))
    body = dict(request.state.body)
    ident = body.pop("node_ident")
    await agent.heartbeat(runtime(request), context(request), ident, body, source(request))
    return Response(status_code=202)


@router.post("/continue_inspection", status_code=202)
@accepts(body=bm.CONTINUE_INSPECTION)
async def continue_inspection(request: Request) -> JSONResponse:
    """The agent's inventory (1.84; also at 1.1, where Ironic serves it as
    Inspector's drop-in replacement; 404 between)."""
    v = params.version(request)
    if not (v == (1, 1) or v >= (1, 84)):
        params.require(request, (1, 84))
    found = await agent.continue_inspection(runtime(request), context(request),
                                            request.state.body, source(request))
    return JSONResponse(found, status_code=202)


def _token(request: Request) -> str | None:
    return request.headers.get("x-agent-token")


@router.get("/agent/{ident}/command")
@accepts(query=bm.COMMAND_QUERY)
async def next_command(ident: str, request: Request) -> JSONResponse:
    """Long-poll: the agent's next command, or null after ``wait`` seconds."""
    params.require(request, (1, 22))
    wait = float(params.query(request).get("wait", 0))
    if not math.isfinite(wait):  # "nan", "inf": numbers JSON Schema cannot refuse
        raise InvalidParameter(f"wait must be a number of seconds, not {wait!r}.")
    command = await agent.next_command(runtime(request), ident, _token(request), wait,
                                       source(request))
    return JSONResponse({"command": command})


@router.post("/agent/{ident}/command/{command_id}", status_code=202)
@accepts(body=bm.COMMAND_REPORT)
async def report(ident: str, command_id: str, request: Request) -> Response:
    params.require(request, (1, 22))
    await agent.report(runtime(request), context(request), ident, command_id,
                       _token(request), request.state.body, source(request))
    return Response(status_code=202)
