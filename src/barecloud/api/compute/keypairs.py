"""/os-keypairs: import or generate, list, show, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, json_body, runtime
from barecloud.api.compute import params
from barecloud.api.compute.render import iso
from barecloud.db.compute_models import KeyPair
from barecloud.services.compute import keypairs

router = APIRouter(prefix="/os-keypairs")


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
    return request.query_params.get("user_id") if params.version(request) >= (2, 10) else None


@router.get("")
async def list_keypairs(request: Request) -> JSONResponse:
    v = params.version(request)
    limit = params.limit(request) if v >= (2, 35) else None
    marker = request.query_params.get("marker") if v >= (2, 35) else None
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
async def create_keypair(request: Request) -> JSONResponse:
    body = await json_body(request)
    v = params.version(request)
    created = await keypairs.create(runtime(request), context(request), body, v)
    view = _view(request, created.keypair, full=False)
    view["user_id"] = created.keypair.user_id
    if created.private_key is not None:
        view["private_key"] = created.private_key
    return JSONResponse({"keypair": view}, status_code=201 if v >= (2, 2) else 200)


@router.get("/{name}")
async def show_keypair(name: str, request: Request) -> JSONResponse:
    k = await keypairs.get(runtime(request), context(request), name, _user(request))
    return JSONResponse({"keypair": _view(request, k, full=True)})


@router.delete("/{name}")
async def delete_keypair(name: str, request: Request) -> Response:
    await keypairs.remove(runtime(request), context(request), name, _user(request))
    return Response(status_code=204 if params.version(request) >= (2, 2) else 202)
