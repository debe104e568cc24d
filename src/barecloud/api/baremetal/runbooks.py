"""/v1/runbooks: Ironic's runbooks (API 1.55)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter, MethodNotAllowed
from barecloud.services.baremetal import runbooks
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1/runbooks")
SINCE = (1, 92)


def _allowed(request: Request) -> None:
    """As Ironic's: before 1.92 reads are 404, writes 405."""
    if params.version(request) < SINCE:
        if request.method == "GET":
            params.require(request, SINCE)
        raise MethodNotAllowed("The API version does not allow runbooks")


async def _list(request: Request, detail: bool) -> JSONResponse:
    _allowed(request)
    fields = params.fields(request)
    render.check_runbook_fields(fields)
    q = params.query(request)
    if fields is not None and detail:
        raise InvalidParameter("Can not specify ?fields when listing runbooks/detail")
    if q.get("detail") is not None and not detail:
        detail = bool(q["detail"])
    rows, more = await runbooks.list_runbooks(
        runtime(request), context(request), limit=q.get("limit"), marker=q.get("marker"),
        sort_key=q.get("sort_key", "id"), sort_dir=q.get("sort_dir", "asc"),
        project=q.get("project"))
    base = base_url(request)
    body: dict[str, object] = {"runbooks": [
        render.runbook(r, base, fields=fields, detail=detail) for r in rows]}
    if more and rows:
        kind = "runbooks/detail" if request.url.path.endswith("/detail") \
            else "runbooks"
        body["next"] = params.next_link(request, kind, rows[-1].uuid)
    return JSONResponse(body)


@router.get("")
@accepts(query=bm.LIST_RUNBOOKS_QUERY)
async def list_runbooks(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
@accepts(query=bm.LIST_RUNBOOKS_QUERY)
async def list_runbooks_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.post("", status_code=201)
@accepts(body=bm.CREATE_RUNBOOK)
async def create_runbook(request: Request) -> JSONResponse:
    _allowed(request)
    r = await runbooks.create(runtime(request), context(request), request.state.body)
    base = base_url(request)
    return JSONResponse(render.runbook(r, base), status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/runbooks/{r.uuid}"})


@router.get("/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_runbook(ident: str, request: Request) -> JSONResponse:
    _allowed(request)
    fields = params.fields(request)
    r = await runbooks.get(runtime(request), context(request), ident)
    return JSONResponse(render.runbook(r, base_url(request), fields=fields))


@router.patch("/{ident}")
@accepts(body=bm.PATCH)
async def update_runbook(ident: str, request: Request) -> JSONResponse:
    _allowed(request)
    r = await runbooks.update(runtime(request), context(request), ident,
                               request.state.body)
    return JSONResponse(render.runbook(r, base_url(request)))


@router.delete("/{ident}", status_code=204)
@accepts()
async def delete_runbook(ident: str, request: Request) -> Response:
    _allowed(request)
    await runbooks.remove(runtime(request), context(request), ident)
    return Response(status_code=204)
