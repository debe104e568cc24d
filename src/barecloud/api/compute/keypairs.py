"""/os-keypairs: import or generate, list, show, delete."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import by_version
from barecloud.api.compute.render import iso
from barecloud.db.compute_models import KeyPair
from barecloud.services.compute import keypairs, schemas

router = declared.router(prefix="/os-keypairs")


def _view(request: Request, k: KeyPair, *, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"name": k.name, "public_key": k.public_key,
                            "fingerprint": k.fingerprint}
    if full:
        body.update({"user_id": k.user_id, "deleted": False, "created_at": iso(k.created_at),
                     "updated_at": None, "deleted_at": None, "id": k.id})
    if params.version(request) >= (2, 2):
        body["type"] = k.type
    return body


def _user(request: Request) -> str | None:
    user: str | None = params.query(request).get("user_id")
    return user if params.version(request) >= (2, 10) else None


@router.get("")
@by_version(query=schemas.LIST_KEYPAIRS_QUERY)
async def list_keypairs(request: Request) -> JSONResponse:
    v = params.version(request)
    limit = params.limit(request) if v >= (2, 35) else None
    marker = params.query(request).get("marker") if v >= (2, 35) else None
    rt = runtime(request)
    found = await keypairs.list_keypairs(rt, context(request), _user(request), limit, marker)
    body: dict[str, Any] = {"keypairs": [{"keypair": _view(request, k, full=False)}
                                         for k in found]}
    more = params.next_links(request, "os-keypairs", found, found[-1].name if found else "",
                             limit, rt.settings.api_max_limit) if v >= (2, 35) else None
    if more:
        body["keypairs_links"] = more
    return JSONResponse(body)


@router.post("")
@by_version(body=schemas.CREATE_KEYPAIR)
async def create_keypair(request: Request) -> JSONResponse:
    body = request.state.body
    v = params.version(request)
    created = await keypairs.create(runtime(request), context(request), body)
    view = _view(request, created.keypair, full=False)
    view["user_id"] = created.keypair.user_id
    if created.private_key is not None:
        view["private_key"] = created.private_key
    return JSONResponse({"keypair": view}, status_code=201 if v >= (2, 2) else 200)


@router.get("/{name}")
@by_version(query=schemas.KEYPAIR_QUERY)
async def show_keypair(name: str, request: Request) -> JSONResponse:
    k = await keypairs.get(runtime(request), context(request), name, _user(request))
    return JSONResponse({"keypair": _view(request, k, full=True)})


@router.delete("/{name}")
@by_version(query=schemas.KEYPAIR_QUERY)
async def delete_keypair(name: str, request: Request) -> Response:
    await keypairs.remove(runtime(request), context(request), name, _user(request))
    return Response(status_code=204 if params.version(request) >= (2, 2) else 202)
