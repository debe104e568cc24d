"""/images (below 2.36) and /images/{id}/metadata (below 2.39): Nova's proxy to the
Image service (services/compute/image_proxy.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.inputs import accepts
from barecloud.db.models import Image
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services.compute import image_proxy, schemas

router = declared.router(prefix="/images")
IMAGES_REMOVED, METADATA_REMOVED = (2, 36), (2, 39)
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "deleted": "DELETED",
          "pending_delete": "DELETED", "killed": "ERROR"}
PROGRESS = {"queued": 25, "saving": 50, "active": 100}


def _until(request: Request, removed: params.V) -> None:
    v = params.version(request)
    if v >= removed:
        raise NotFound(f"API version {v[0]}.{v[1]} is not supported on this method.")


def _links(request: Request, image_id: str) -> list[dict[str, str]]:
    return [*params.links(request, "images", image_id),
            {"rel": "alternate", "type": "application/vnd.openstack.image",
             "href": f"{params.bookmark(request).removesuffix('/compute')}/image/images/"
                     f"{image_id}"}]


def _image(request: Request, i: Image, detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": i.uuid, "name": i.name, "links": _links(request, i.uuid)}
    if not detail:
        return body
    props = dict(i.properties or {})
    body.update({
        "minRam": i.min_ram or 0, "minDisk": i.min_disk or 0, "metadata": props,
        "created": render.iso_z(i.created_at), "updated": render.iso_z(i.updated_at),
        "status": STATUS.get(i.status, "UNKNOWN"), "progress": PROGRESS.get(i.status, 0),
        "OS-EXT-IMG-SIZE:size": i.size})
    if props.get("instance_uuid"):
        uuid = str(props["instance_uuid"])
        body["server"] = {"id": uuid, "links": params.links(request, "servers", uuid)}
    return body


async def _list(request: Request, detail: bool) -> JSONResponse:
    _until(request, IMAGES_REMOVED)
    q, rt = params.query(request), runtime(request)
    limit = params.limit(request)
    found = await image_proxy.list_images(rt, context(request), q, limit, q.get("marker"))
    body: dict[str, Any] = {"images": [_image(request, i, detail) for i in found]}
    more = params.next_links(request, "images/detail" if detail else "images", found,
                             found[-1].uuid if found else "", limit,
                             rt.settings.api_max_limit)
    if more:
        body["images_links"] = more
    return JSONResponse(body)


@router.get("")
@accepts(query=schemas.IMAGES_QUERY)
async def list_images(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
@accepts(query=schemas.IMAGES_QUERY)
async def list_images_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.get("/{image_id}")
@accepts()
async def show_image(image_id: str, request: Request) -> JSONResponse:
    _until(request, IMAGES_REMOVED)
    found = await image_proxy.get(runtime(request), context(request), image_id)
    return JSONResponse({"image": _image(request, found, detail=True)})


@router.delete("/{image_id}", status_code=204)
@accepts()
async def delete_image(image_id: str, request: Request) -> Response:
    _until(request, IMAGES_REMOVED)
    await image_proxy.delete(runtime(request), context(request), image_id)
    return Response(status_code=204)


# --- metadata -------------------------------------------------------------------
@router.get("/{image_id}/metadata")
@accepts()
async def list_metadata(image_id: str, request: Request) -> JSONResponse:
    _until(request, METADATA_REMOVED)
    found = await image_proxy.get(runtime(request), context(request), image_id)
    return JSONResponse({"metadata": dict(found.properties or {})})


async def _set(image_id: str, request: Request, replace: bool) -> JSONResponse:
    _until(request, METADATA_REMOVED)
    meta = await image_proxy.set_metadata(runtime(request), context(request), image_id,
                                          request.state.body["metadata"], replace=replace)
    return JSONResponse({"metadata": meta})


@router.post("/{image_id}/metadata")
@accepts(body=schemas.IMAGE_METADATA)
async def merge_metadata(image_id: str, request: Request) -> JSONResponse:
    return await _set(image_id, request, replace=False)


@router.put("/{image_id}/metadata")
@accepts(body=schemas.IMAGE_METADATA)
async def replace_metadata(image_id: str, request: Request) -> JSONResponse:
    return await _set(image_id, request, replace=True)


@router.get("/{image_id}/metadata/{key}")
@accepts()
async def show_metadata_item(image_id: str, key: str, request: Request) -> JSONResponse:
    _until(request, METADATA_REMOVED)
    value = await image_proxy.metadata_item(runtime(request), context(request), image_id, key)
    return JSONResponse({"meta": {key: value}})


@router.put("/{image_id}/metadata/{key}")
@accepts(body=schemas.IMAGE_META_ITEM)
async def set_metadata_item(image_id: str, key: str, request: Request) -> JSONResponse:
    _until(request, METADATA_REMOVED)
    item = request.state.body["meta"]
    if key not in item:
        raise InvalidParameter("Request body and URI mismatch")
    await image_proxy.set_metadata(runtime(request), context(request), image_id, item,
                                   replace=False)
    return JSONResponse({"meta": item})


@router.delete("/{image_id}/metadata/{key}", status_code=204)
@accepts()
async def delete_metadata_item(image_id: str, key: str, request: Request) -> Response:
    _until(request, METADATA_REMOVED)
    await image_proxy.delete_metadata_item(runtime(request), context(request), image_id, key)
    return Response(status_code=204)
