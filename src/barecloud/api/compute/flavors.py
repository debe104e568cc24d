"""/flavors, their extra specs and os-flavor-access: parse, call the service, render."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.inputs import accepts, by_version
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services.compute import flavors, schemas

router = declared.router(prefix="/flavors")


def _int_param(request: Request, name: str) -> int | None:
    """``minRam``/``minDisk``: declared as text and read here, as Nova's."""
    raw = params.query(request).get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid {name} filter [{raw}]") from None


def _is_public(request: Request) -> bool | None:
    raw = params.query(request).get("is_public")
    if raw is None:
        return True
    if raw.strip().lower() == "none":
        return None
    return params.query_bool("is_public", raw)


async def _list(request: Request, detail: bool) -> JSONResponse:
    rt, ctx = runtime(request), context(request)
    q = params.query(request)
    query = flavors.FlavorQuery(
        is_public=_is_public(request), min_ram=_int_param(request, "minRam"),
        min_disk=_int_param(request, "minDisk"), limit=params.limit(request),
        marker=q.get("marker"), sort_key=q.get("sort_key", "flavorid"),
        sort_dir=q.get("sort_dir", "asc"))
    found = await flavors.list_flavors(rt, ctx, query)
    body: dict[str, Any] = {"flavors": [render.flavor(request, f, detail) for f in found]}
    more = params.next_links(request, "flavors/detail" if detail else "flavors", found,
                             found[-1].flavorid if found else "", query.limit,
                             rt.settings.api_max_limit)
    if more:
        body["flavors_links"] = more
    return JSONResponse(body)


@router.get("")
@accepts(query=schemas.LIST_FLAVORS_QUERY)
async def list_flavors(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
@accepts(query=schemas.LIST_FLAVORS_QUERY)
async def list_flavors_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.get("/{flavor_id}")
@accepts()
async def show_flavor(flavor_id: str, request: Request) -> JSONResponse:
    f = await flavors.get(runtime(request), context(request), flavor_id)
    return JSONResponse({"flavor": render.flavor(request, f)})


@router.post("")
@by_version(body=schemas.CREATE_FLAVOR)
async def create_flavor(request: Request) -> JSONResponse:
    body = request.state.body
    f = await flavors.create(runtime(request), context(request), body, params.version(request))
    return JSONResponse({"flavor": render.flavor(request, f)})


@router.put("/{flavor_id}")
@by_version(body=schemas.UPDATE_FLAVOR)
async def update_flavor(flavor_id: str, request: Request) -> JSONResponse:
    params.require(request, (2, 55))
    body = request.state.body
    f = await flavors.update(runtime(request), context(request), flavor_id, body)
    f = await flavors.get(runtime(request), context(request), f.flavorid)
    return JSONResponse({"flavor": render.flavor(request, f)})


@router.delete("/{flavor_id}", status_code=202)
@accepts()
async def delete_flavor(flavor_id: str, request: Request) -> Response:
    await flavors.remove(runtime(request), context(request), flavor_id)
    return Response(status_code=202)


# --- extra specs --------------------------------------------------------
@router.get("/{flavor_id}/os-extra_specs")
@accepts()
async def list_specs(flavor_id: str, request: Request) -> JSONResponse:
    f = await flavors.get(runtime(request), context(request), flavor_id)
    return JSONResponse({"extra_specs": flavors.specs_of(f)})


@router.post("/{flavor_id}/os-extra_specs")
@accepts(body=schemas.CREATE_SPECS)
async def create_specs(flavor_id: str, request: Request) -> JSONResponse:
    specs = request.state.body["extra_specs"]
    done = await flavors.set_specs(runtime(request), context(request), flavor_id, specs)
    return JSONResponse({"extra_specs": done})


@router.get("/{flavor_id}/os-extra_specs/{key}")
@accepts()
async def show_spec(flavor_id: str, key: str, request: Request) -> JSONResponse:
    specs = flavors.specs_of(await flavors.get(runtime(request), context(request), flavor_id))
    if key not in specs:
        raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return JSONResponse({key: specs[key]})


@router.put("/{flavor_id}/os-extra_specs/{key}")
@accepts(body=schemas.UPDATE_SPEC)
async def update_spec(flavor_id: str, key: str, request: Request) -> JSONResponse:
    body = request.state.body
    if not body:
        raise InvalidParameter("Request body is empty or not an object.")
    if len(body) > 1:
        raise InvalidParameter("Request body contains too many items")
    if key not in body:
        raise InvalidParameter("Request body and URI mismatch")
    done = await flavors.set_specs(runtime(request), context(request), flavor_id, body)
    return JSONResponse(done)


@router.delete("/{flavor_id}/os-extra_specs/{key}")
@accepts()
async def delete_spec(flavor_id: str, key: str, request: Request) -> Response:
    await flavors.delete_spec(runtime(request), context(request), flavor_id, key)
    return Response(status_code=200)


# --- os-flavor-access ------------------------------------------------------
def _access(flavor_id: str, projects: list[str]) -> JSONResponse:
    return JSONResponse({"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p}
                                           for p in projects]})


@router.get("/{flavor_id}/os-flavor-access")
@accepts()
async def list_access(flavor_id: str, request: Request) -> JSONResponse:
    return _access(flavor_id, await flavors.access_list(runtime(request), context(request),
                                                        flavor_id))


@router.post("/{flavor_id}/action")
@accepts(body=schemas.FLAVOR_ACTION)
async def flavor_action(flavor_id: str, request: Request) -> JSONResponse:
    body = request.state.body
    if len(body) != 1:
        raise InvalidParameter("Malformed request body: too many body keys"
                               if body else "Malformed request body")
    action = next(iter(body))
    if action not in ("addTenantAccess", "removeTenantAccess"):
        raise InvalidParameter(f"There is no such action: {action}")
    tenant: str = body[action]["tenant"]
    rt, ctx = runtime(request), context(request)
    if action == "addTenantAccess":
        await flavors.add_access(rt, ctx, flavor_id, tenant)
    else:
        await flavors.remove_access(rt, ctx, flavor_id, tenant)
    return _access(flavor_id, await flavors.access_list(rt, ctx, flavor_id))
