"""/os-simple-tenant-usage: each project's server hours in a period, as Nova's."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts
from barecloud.errors import NotFound
from barecloud.services.compute import schemas, usage

router = declared.router(prefix="/os-simple-tenant-usage")
PAGES = (2, 40)


async def _usages(request: Request, project: str | None
                  ) -> tuple[list[usage.TenantUsage], list[usage.ServerUsage], bool]:
    q, pages = params.query(request), params.version(request) >= PAGES
    found, counted = await usage.usages(
        runtime(request), context(request), usage.parse_time(q.get("start")),
        usage.parse_time(q.get("end")), project,
        params.limit(request) if pages else None, q.get("marker") if pages else None)
    return found, counted, pages


def _links(request: Request, kind: str, counted: list[usage.ServerUsage],
           pages: bool) -> list[dict[str, str]] | None:
    if not pages:
        return None
    return params.next_links(request, kind, counted,
                             counted[-1].server.uuid if counted else "",
                             params.limit(request), runtime(request).settings.api_max_limit)


@router.get("")
@accepts(query=schemas.USAGE_QUERY)
async def list_usages(request: Request) -> JSONResponse:
    found, counted, pages = await _usages(request, None)
    detailed = params.query(request).get("detailed") == "1"
    body: dict[str, Any] = {"tenant_usages": [u.view(detailed) for u in found]}
    more = _links(request, "os-simple-tenant-usage", counted, pages)
    if more:
        body["tenant_usages_links"] = more
    return JSONResponse(body)


@router.get("/")
@accepts()
async def no_tenant(request: Request) -> JSONResponse:
    """An empty project id is no project: 404, as Nova's router answers."""
    raise NotFound("The resource could not be found.")


@router.get("/{tenant_id}")
@accepts(query=schemas.USAGE_QUERY)
async def show_usage(tenant_id: str, request: Request) -> JSONResponse:
    found, counted, pages = await _usages(request, tenant_id)
    body: dict[str, Any] = {"tenant_usage": found[0].view(True) if found else {}}
    more = _links(request, f"os-simple-tenant-usage/{tenant_id}", counted, pages)
    if more:
        body["tenant_usage_links"] = more
    return JSONResponse(body)
