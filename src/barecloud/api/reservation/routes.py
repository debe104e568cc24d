"""Leases, hosts (``/os-hosts``) and barecloud's calendar, and their wiring.

Handlers are thin: each declares its input (services/reservation/schemas.py,
checked before it runs), the service layer (services/reservation) takes
Blazar's request bodies and gives back Blazar's objects; a handler wraps the
result in Blazar's envelope and picks the status (POST 201, DELETE 204, else
200).  Refusals are BarecloudErrors, rendered by the app's
handler in Blazar's body (``auth.error_for``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.reservation import root
from barecloud.api.reservation.errors import error_response
from barecloud.api.reservation.inputs import accepts
from barecloud.api.reservation.microversion import BlazarVersions
from barecloud.services.reservation import calendar, hosts, leases, schemas
from barecloud.services.validation import TRUE_STRINGS

V1 = "/reservation/v1"
router = declared.router(prefix=V1)


def _body(request: Request) -> dict[str, Any]:
    """The checked body; none is ``{}``, as in Blazar."""
    body: dict[str, Any] = request.state.body or {}
    return body


def _flag(request: Request, name: str) -> bool:
    """An oslo flag: on if it says so, off for any other text."""
    return str(request.state.query.get(name, "")).strip().lower() in TRUE_STRINGS


# Leases

@router.get("/leases")
@accepts()
async def list_leases(request: Request) -> JSONResponse:
    return JSONResponse({"leases": await leases.list_leases(runtime(request),
                                                            context(request))})


@router.post("/leases", status_code=201)
@accepts(body=schemas.CREATE_LEASE)
async def create_lease(request: Request) -> JSONResponse:
    body = _body(request)
    lease = await leases.create(runtime(request), context(request), body)
    return JSONResponse({"lease": lease}, status_code=201)


@router.get("/leases/{lease_id}")
@accepts()
async def show_lease(lease_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"lease": await leases.get(runtime(request), context(request),
                                                   lease_id)})


@router.put("/leases/{lease_id}")
@accepts(body=schemas.UPDATE_LEASE, body_required=False)
async def update_lease(lease_id: str, request: Request) -> JSONResponse:
    body = _body(request)
    lease = await leases.update(runtime(request), context(request), lease_id, body)
    return JSONResponse({"lease": lease})


@router.delete("/leases/{lease_id}", status_code=204)
@accepts()
async def delete_lease(lease_id: str, request: Request) -> Response:
    await leases.delete(runtime(request), context(request), lease_id)
    return Response(status_code=204)


# Hosts: the fixed paths before /os-hosts/{host_id}, which would take them.

@router.get("/os-hosts")
@accepts()
async def list_hosts(request: Request) -> JSONResponse:
    return JSONResponse({"hosts": await hosts.list_hosts(runtime(request), context(request))})


@router.post("/os-hosts", status_code=201)
@accepts(body=schemas.CREATE_HOST)
async def create_host(request: Request) -> JSONResponse:
    body = _body(request)
    host = await hosts.create(runtime(request), context(request), body)
    return JSONResponse({"host": host}, status_code=201)


@router.get("/os-hosts/allocations")
@accepts(query=schemas.ALLOCATIONS_QUERY)
async def list_allocations(request: Request) -> JSONResponse:
    q = request.state.query
    found = await hosts.allocations(runtime(request), context(request), q.get("lease_id"),
                                    q.get("reservation_id"))
    return JSONResponse({"allocations": found})


@router.get("/os-hosts/properties")
@accepts(query=schemas.PROPERTIES_QUERY)
async def list_properties(request: Request) -> JSONResponse:
    found = await hosts.properties(runtime(request), context(request),
                                   detail=_flag(request, "detail"),
                                   include_private=_flag(request, "all"))
    return JSONResponse({"resource_properties": found})


@router.patch("/os-hosts/properties/{name}")
@accepts(body=schemas.UPDATE_PROPERTY)
async def set_property(name: str, request: Request) -> JSONResponse:
    body = _body(request)
    prop = await hosts.set_property(runtime(request), context(request), name, body)
    return JSONResponse({"resource_property": prop})


@router.get("/os-hosts/{host_id}")
@accepts()
async def show_host(host_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"host": await hosts.get(runtime(request), context(request),
                                                 host_id)})


@router.put("/os-hosts/{host_id}")
@accepts(body=schemas.UPDATE_HOST)
async def update_host(host_id: str, request: Request) -> JSONResponse:
    body = _body(request)
    if not body:  # Blazar's API layer refuses this itself, under that odd name
        return error_response(400, "No data to update", name="INTERNAL_SERVER_ERROR")
    host = await hosts.update(runtime(request), context(request), host_id, body)
    return JSONResponse({"host": host})


@router.delete("/os-hosts/{host_id}", status_code=204)
@accepts()
async def delete_host(host_id: str, request: Request) -> Response:
    await hosts.delete(runtime(request), context(request), host_id)
    return Response(status_code=204)


@router.get("/os-hosts/{host_id}/allocation")
@accepts(query=schemas.ALLOCATIONS_QUERY)
async def show_allocation(host_id: str, request: Request) -> JSONResponse:
    q = request.state.query
    found = await hosts.allocation(runtime(request), context(request), host_id,
                                   q.get("lease_id"), q.get("reservation_id"))
    return JSONResponse({"allocation": found})


# barecloud's extension

@router.get("/barecloud-calendar")
@accepts(query=schemas.CALENDAR_QUERY)
async def show_calendar(request: Request) -> JSONResponse:
    """Per host, the allocations overlapping ``[start, end)`` ("YYYY-MM-DD HH:MM" or ISO)."""
    q = request.state.query
    return JSONResponse(await calendar.view(runtime(request), context(request),
                                            q.get("start") or None, q.get("end") or None))


def install(app: FastAPI) -> None:
    """Routes, and the version middleware innermost (inside authentication)."""
    app.include_router(root.router)
    app.include_router(router)
    app.add_middleware(BlazarVersions)
