"""GET /network/v2.0/agents and /agents/{id}: Neutron's agents, read only (admins).

The ``agent`` extension is not listed: it also updates and deletes agents,
which barecloud does not offer (services/network/agents.py says what is listed).
"""

from __future__ import annotations

from fastapi import Request

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.network import inputs
from barecloud.api.network.inputs import accepts
from barecloud.services.network import agents, schemas

router = inputs.router(prefix="/network/v2.0/agents")


@router.get("")
@router.get(".json")
@accepts(query=schemas.LIST_AGENTS_QUERY)
async def list_agents(request: Request) -> JSONResponse:
    query = {k: v for k, v in request.state.query.items() if k in schemas.AGENT_FILTERS}
    found = await agents.list_agents(runtime(request), context(request), query)
    return JSONResponse({"agents": found})


@router.get("/{agent_id}")
@accepts()
async def show_agent(agent_id: str, request: Request) -> JSONResponse:
    agent = await agents.get(runtime(request), context(request), agent_id.removesuffix(".json"))
    return JSONResponse({"agent": agent})
