"""/v1/deploy_templates (1.55) and /v1/runbooks (1.92): Ironic's named sets of
steps, one collection shape.  :func:`install` adds a collection's routes (list,
detail, create, show, JSON-patch, delete), each a thin handler over the
collection's service module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter, MethodNotAllowed
from barecloud.services.baremetal import deploy_templates as templates
from barecloud.services.baremetal import runbooks
from barecloud.services.baremetal import schemas as bm
from barecloud.services.context import RequestContext, Runtime

router = declared.router(prefix="/baremetal/v1")

Render = Callable[..., dict[str, Any]]
Lister = Callable[..., Awaitable[tuple[list[Any], bool]]]
OneOf = Callable[[Runtime, RequestContext, str], Awaitable[Any]]


@dataclass(frozen=True)
class Collection:
    kind: str  # the path element and the list's key: "runbooks"
    what: str  # as messages name it: "runbooks"
    since: tuple[int, int]
    render: Render  # (row, base, *, fields=, detail=)
    check_fields: Callable[[Iterable[str] | None], None]
    rows: Lister  # a page: (rt, ctx, *, limit, marker, sort_key, sort_dir, **filters)
    get: OneOf
    create: Callable[[Runtime, RequestContext, Any], Awaitable[Any]]
    update: Callable[[Runtime, RequestContext, str, Any], Awaitable[Any]]
    remove: Callable[[Runtime, RequestContext, str], Awaitable[None]]
    create_schema: bm.Schema
    list_query: bm.Schema
    filters: tuple[str, ...] = ()  # query parameters passed on to ``rows``


def install(router: APIRouter, c: Collection) -> None:
    def allowed(request: Request) -> None:
        """As Ironic's: before the version, reads are 404 and writes 405."""
        if params.version(request) < c.since:
            if request.method == "GET":
                params.require(request, c.since)
            raise MethodNotAllowed(f"The API version does not allow {c.what}")

    async def listing(request: Request, detail: bool) -> JSONResponse:
        allowed(request)
        fields = params.fields(request)
        c.check_fields(fields)
        q = params.query(request)
        if fields is not None and detail:
            raise InvalidParameter(f"Can not specify ?fields when listing {c.kind}/detail")
        if q.get("detail") is not None and not detail:
            detail = bool(q["detail"])
        rows, more = await c.rows(
            runtime(request), context(request), limit=q.get("limit"), marker=q.get("marker"),
            sort_key=q.get("sort_key", "id"), sort_dir=q.get("sort_dir", "asc"),
            **{k: q.get(k) for k in c.filters})
        base = base_url(request)
        body: dict[str, object] = {
            c.kind: [c.render(r, base, fields=fields, detail=detail) for r in rows]}
        if more and rows:
            kind = f"{c.kind}/detail" if request.url.path.endswith("/detail") else c.kind
            body["next"] = params.next_link(request, kind, rows[-1].uuid)
        return JSONResponse(body)

    @router.get(f"/{c.kind}")
    @accepts(query=c.list_query)
    async def list_all(request: Request) -> JSONResponse:
        return await listing(request, detail=False)

    @router.get(f"/{c.kind}/detail")
    @accepts(query=c.list_query)
    async def list_detail(request: Request) -> JSONResponse:
        return await listing(request, detail=True)

    @router.post(f"/{c.kind}", status_code=201)
    @accepts(body=c.create_schema)
    async def create(request: Request) -> JSONResponse:
        allowed(request)
        row = await c.create(runtime(request), context(request), request.state.body)
        base = base_url(request)
        return JSONResponse(c.render(row, base), status_code=201,
                            headers={"Location": f"{base}/baremetal/v1/{c.kind}/{row.uuid}"})

    @router.get(f"/{c.kind}/{{ident}}")
    @accepts(query=bm.SHOW_QUERY)
    async def show(ident: str, request: Request) -> JSONResponse:
        allowed(request)
        fields = params.fields(request)
        row = await c.get(runtime(request), context(request), ident)
        return JSONResponse(c.render(row, base_url(request), fields=fields))

    @router.patch(f"/{c.kind}/{{ident}}")
    @accepts(body=bm.PATCH)
    async def update(ident: str, request: Request) -> JSONResponse:
        allowed(request)
        row = await c.update(runtime(request), context(request), ident, request.state.body)
        return JSONResponse(c.render(row, base_url(request)))

    @router.delete(f"/{c.kind}/{{ident}}", status_code=204)
    @accepts()
    async def delete(ident: str, request: Request) -> Response:
        allowed(request)
        await c.remove(runtime(request), context(request), ident)
        return Response(status_code=204)


install(router, Collection(
    kind="deploy_templates", what="deploy templates", since=(1, 55),
    render=render.deploy_template, check_fields=render.check_deploy_template_fields,
    rows=templates.list_templates, get=templates.get, create=templates.create,
    update=templates.update, remove=templates.remove,
    create_schema=bm.CREATE_DEPLOY_TEMPLATE, list_query=bm.LIST_DEPLOY_TEMPLATES_QUERY))
install(router, Collection(
    kind="runbooks", what="runbooks", since=(1, 92),
    render=render.runbook, check_fields=render.check_runbook_fields,
    rows=runbooks.list_runbooks, get=runbooks.get, create=runbooks.create,
    update=runbooks.update, remove=runbooks.remove,
    create_schema=bm.CREATE_RUNBOOK, list_query=bm.LIST_RUNBOOKS_QUERY,
    filters=("project",)))
