"""Leases, hosts (``/os-hosts``) and barecloud's calendar, and their wiring.

Handlers are thin: the service layer (services/leases) takes Blazar's
request bodies and gives back Blazar's objects; a handler only parses the
body, wraps the result in Blazar's envelope and picks the status (POST 201,
DELETE 204, else 200).  Refusals are BarecloudErrors, rendered by the app's
handler in Blazar's body (``auth.error_for``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.reservation import root
from barecloud.api.reservation.errors import error_response
from barecloud.api.reservation.microversion import BlazarVersions
from barecloud.errors import InvalidParameter
from barecloud.services.reservation import calendar, hosts, leases

V1 = "/reservation/v1"
router = APIRouter(prefix=V1)
TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})  # oslo strutils' true strings


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of the request; no body is ``{}``, as in Blazar."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameter(f"Malformed JSON in the request body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    return data


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").strip().lower() in TRUE


# Leases

@router.get("/leases")
async def list_leases(request: Request) -> JSONResponse:
    return JSONResponse({"leases": await leases.list_leases(runtime(request),
                                                            context(request))})


@router.post("/leases", status_code=201)
async def create_lease(request: Request) -> JSONResponse:
    body = await _body(request)
    lease = await leases.create(runtime(request), context(request), body)
    return JSONResponse({"lease": lease}, status_code=201)


@router.get("/leases/{lease_id}")
async def show_lease(lease_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"lease": await leases.get(runtime(request), context(request),
                                                   lease_id)})


@router.put("/leases/{lease_id}")
async def update_lease(lease_id: str, request: Request) -> JSONResponse:
    body = await _body(request)
    lease = await leases.update(runtime(request), context(request), lease_id, body)
    return JSONResponse({"lease": lease})


@router.delete("/leases/{lease_id}", status_code=204)
async def delete_lease(lease_id: str, request: Request) -> Response:
    await leases.delete(runtime(request), context(request), lease_id)
    return Response(status_code=204)


# Hosts: the fixed paths before /os-hosts/{host_id}, which would take them.

@router.get("/os-hosts")
async def list_hosts(request: Request) -> JSONResponse:
    return JSONResponse({"hosts": await hosts.list_hosts(runtime(request), context(request))})


@router.post("/os-hosts", status_code=201)
async def create_host(request: Request) -> JSONResponse:
    body = await _body(request)
    host = await hosts.create(runtime(request), context(request), body)
    return JSONResponse({"host": host}, status_code=201)


@router.get("/os-hosts/allocations")
async def list_allocations(request: Request) -> JSONResponse:
    q = request.query_params
    found = await hosts.allocations(runtime(request), context(request), q.get("lease_id"),
                                    q.get("reservation_id"))
    return JSONResponse({"allocations": found})


@router.get("/os-hosts/properties")
async def list_properties(request: Request) -> JSONResponse:
    found = await hosts.properties(runtime(request), context(request),
                                   detail=_flag(request, "detail"),
                                   include_private=_flag(request, "all"))
    return JSONResponse({"resource_properties": found})


@router.patch("/os-hosts/properties/{name}")
async def set_property(name: str, request: Request) -> JSONResponse:
    body = await _body(request)
    prop = await hosts.set_property(runtime(request), context(request), name, body)
    return JSONResponse({"resource_property": prop})


@router.get("/os-hosts/{host_id}")
async def show_host(host_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"host": await hosts.get(runtime(request), context(request),
                                                 host_id)})


@router.put("/os-hosts/{host_id}")
async def update_host(host_id: str, request: Request) -> JSONResponse:
    body = await _body(request)
    if not body:  # Blazar's API layer refuses this itself, under that odd name
        return error_response(400, "No data to update", name="INTERNAL_SERVER_ERROR")
    host = await hosts.update(runtime(request), context(request), host_id, body)
    return JSONResponse({"host": host})


@router.delete("/os-hosts/{host_id}", status_code=204)
async def delete_host(host_id: str, request: Request) -> Response:
    await hosts.delete(runtime(request), context(request), host_id)
    return Response(status_code=204)


@router.get("/os-hosts/{host_id}/allocation")
async def show_allocation(host_id: str, request: Request) -> JSONResponse:
    q = request.query_params
    found = await hosts.allocation(runtime(request), context(request), host_id,
                                   q.get("lease_id"), q.get("reservation_id"))
    return JSONResponse({"allocation": found})


# barecloud's extension

@router.get("/barecloud-calendar")
async def show_calendar(request: Request) -> JSONResponse:
    """Per host, the allocations overlapping ``[start, end)`` ("YYYY-MM-DD HH:MM" or ISO)."""
    q = request.query_params
    return JSONResponse(await calendar.view(runtime(request), context(request),
                                            q.get("start") or None, q.get("end") or None))


def install(app: FastAPI) -> None:
    """Routes, and the version middleware innermost (inside authentication)."""
    app.include_router(root.router)
    app.include_router(router)
    app.add_middleware(BlazarVersions)
