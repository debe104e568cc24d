"""/v1/deploy_templates: Ironic's deploy templates (API 1.55)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter, MethodNotAllowed
from barecloud.services.baremetal import deploy_templates as templates
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1/deploy_templates")
SINCE = (1, 55)


def _allowed(request: Request) -> None:
    """As Ironic's: before 1.55 reads are 404, writes 405."""
    if params.version(request) < SINCE:
        if request.method == "GET":
            params.require(request, SINCE)
        raise MethodNotAllowed("The API version does not allow deploy templates")


async def _list(request: Request, detail: bool) -> JSONResponse:
    _allowed(request)
    fields = params.fields(request)
    render.check_deploy_template_fields(fields)
    q = params.query(request)
    if fields is not None and detail:
        raise InvalidParameter("Can not specify ?fields when listing deploy_templates/detail")
    if q.get("detail") is not None and not detail:
        detail = bool(q["detail"])
    rows, more = await templates.list_templates(
        runtime(request), context(request), limit=q.get("limit"), marker=q.get("marker"),
        sort_key=q.get("sort_key", "id"), sort_dir=q.get("sort_dir", "asc"))
    base = base_url(request)
    body: dict[str, object] = {"deploy_templates": [
        render.deploy_template(t, base, fields=fields, detail=detail) for t in rows]}
    if more and rows:
        kind = "deploy_templates/detail" if request.url.path.endswith("/detail") \
            else "deploy_templates"
        body["next"] = params.next_link(request, kind, rows[-1].uuid)
    return JSONResponse(body)


@router.get("")
@accepts(query=bm.LIST_DEPLOY_TEMPLATES_QUERY)
async def list_deploy_templates(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
@accepts(query=bm.LIST_DEPLOY_TEMPLATES_QUERY)
async def list_deploy_templates_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.post("", status_code=201)
@accepts(body=bm.CREATE_DEPLOY_TEMPLATE)
async def create_deploy_template(request: Request) -> JSONResponse:
    _allowed(request)
    t = await templates.create(runtime(request), context(request), request.state.body)
    base = base_url(request)
    return JSONResponse(render.deploy_template(t, base), status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/deploy_templates/{t.uuid}"})


@router.get("/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_deploy_template(ident: str, request: Request) -> JSONResponse:
    _allowed(request)
    fields = params.fields(request)
    t = await templates.get(runtime(request), context(request), ident)
    return JSONResponse(render.deploy_template(t, base_url(request), fields=fields))


@router.patch("/{ident}")
@accepts(body=bm.PATCH)
async def update_deploy_template(ident: str, request: Request) -> JSONResponse:
    _allowed(request)
    t = await templates.update(runtime(request), context(request), ident,
                               request.state.body)
    return JSONResponse(render.deploy_template(t, base_url(request)))


@router.delete("/{ident}", status_code=204)
@accepts()
async def delete_deploy_template(ident: str, request: Request) -> Response:
    _allowed(request)
    await templates.remove(runtime(request), context(request), ident)
    return Response(status_code=204)
