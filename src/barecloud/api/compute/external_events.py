"""/os-server-external-events: other services' news about servers, as Nova takes it."""

from __future__ import annotations

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.inputs import by_version
from barecloud.services.compute import external_events, schemas

router = declared.router()


@router.post("/os-server-external-events")
@by_version(body=schemas.EXTERNAL_EVENTS)
async def create_events(request: Request) -> JSONResponse:
    status, events = await external_events.create(runtime(request), context(request),
                                                  request.state.body["events"])
    return JSONResponse({"events": events}, status_code=status)
