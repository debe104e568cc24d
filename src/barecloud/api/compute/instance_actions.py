"""/servers/{id}/os-instance-actions: what each request did to a server, as Nova's."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.inputs import accepts
from barecloud.db.compute_models import InstanceAction
from barecloud.services import policy
from barecloud.services.compute import instance_actions, queries, schemas

router = declared.router(prefix="/servers")
DELETED_TOO, PAGES, CHANGES_BEFORE, EVENTS_FOR_ALL = (2, 21), (2, 58), (2, 66), (2, 51)


def _action(request: Request, a: InstanceAction) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": a.action, "instance_uuid": a.server_uuid, "request_id": a.request_id,
        "user_id": a.user_id, "project_id": a.project_id,
        "start_time": render.iso(a.start_time), "message": a.message}
    if params.version(request) >= PAGES:
        body["updated_at"] = render.iso(a.updated_at)
    return body


@router.get("/{server_id}/os-instance-actions")
@accepts(query=schemas.INSTANCE_ACTIONS_QUERY)
async def list_actions(server_id: str, request: Request) -> JSONResponse:
    v = params.version(request)
    query = instance_actions.ActionQuery()
    if v >= PAGES:
        q = params.query(request)
        query = instance_actions.ActionQuery(
            limit=params.limit(request), marker=q.get("marker"),
            changes_since=queries.parse_time("changes-since", q["changes-since"])
            if "changes-since" in q else None,
            changes_before=queries.parse_time("changes-before", q["changes-before"])
            if "changes-before" in q and v >= CHANGES_BEFORE else None)
    rt = runtime(request)
    found = await instance_actions.list_actions(rt, context(request), server_id,
                                                v >= DELETED_TOO, query)
    body: dict[str, Any] = {"instanceActions": [_action(request, a) for a in found]}
    if v >= PAGES:
        more = params.next_links(request, f"servers/{server_id}/os-instance-actions", found,
                                 found[-1].request_id if found else "", query.limit,
                                 rt.settings.api_max_limit)
        if more:
            body["links"] = more
    return JSONResponse(body)


@router.get("/{server_id}/os-instance-actions/{request_id}")
@accepts()
async def show_action(server_id: str, request_id: str, request: Request) -> JSONResponse:
    ctx, v = context(request), params.version(request)
    found = await instance_actions.get_action(runtime(request), ctx, server_id,
                                              v >= DELETED_TOO, request_id)
    body = _action(request, found)
    # Nova shows events to admins, and from 2.51 to all; barecloud records none.
    if v >= EVENTS_FOR_ALL or policy.can(ctx, "compute:servers:show:host_details",
                                         {"project_id": found.project_id}):
        body["events"] = []
    return JSONResponse({"instanceAction": body})
