"""/image/v2/metadefs and /image/v2/schemas/metadefs: Glance's metadata definitions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import jsonschema
from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.accepts import Inputs
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.image import params
from barecloud.api.image.render import isotime
from barecloud.db.models import MetadefItem
from barecloud.errors import BarecloudError, InvalidParameter, NotFound
from barecloud.services.image import metadef_schemas as schemas
from barecloud.services.image import metadefs
from barecloud.services.image.errors import wording

router = declared.router(prefix="/image/v2")
NS = "/metadefs/namespaces/{namespace}"


def _words(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    if where == "query":
        return wording(error, where)
    schema = error.schema if isinstance(error.schema, dict) else {}
    return InvalidParameter(f"Provided object does not match schema "
                            f"'{schema.get('title') or 'metadef'}': {error.message}")


accepts = Inputs(_words, read=params.json_body)


def _times(item: Any) -> dict[str, Any]:
    return {"created_at": isotime(item.created_at),
            "updated_at": isotime(item.updated_at or item.created_at)}


def _item(ns: str, item: MetadefItem) -> dict[str, Any]:
    view: dict[str, Any] = {**item.body, "name": item.name}
    if item.kind == "property":
        return view
    view.update(_times(item))
    if item.kind == "object":
        view.setdefault("required", [])
        view.setdefault("properties", {})
        view["schema"] = "/v2/schemas/metadefs/object"
        view["self"] = f"/v2/metadefs/namespaces/{ns}/objects/{item.name}"
    return view


def _namespace(ns: metadefs.Namespace) -> dict[str, Any]:
    row = ns.row
    view: dict[str, Any] = {
        "namespace": row.namespace, "visibility": row.visibility, "protected": row.protected,
        "owner": row.owner, **_times(row),
        "self": f"/v2/metadefs/namespaces/{row.namespace}",
        "schema": "/v2/schemas/metadefs/namespace",
    }
    for key in ("display_name", "description"):
        if getattr(row, key) is not None:
            view[key] = getattr(row, key)
    items = ns.items
    if items.get("resource_type"):
        view["resource_type_associations"] = [_item(row.namespace, i)
                                              for i in items["resource_type"]]
    if items.get("property"):
        view["properties"] = {i.name: {k: v for k, v in _item(row.namespace, i).items()
                                       if k != "name"} for i in items["property"]}
    if items.get("object"):
        view["objects"] = [_item(row.namespace, i) for i in items["object"]]
    if items.get("tag"):
        view["tags"] = [_item(row.namespace, i) for i in items["tag"]]
    return view


# --- namespaces -------------------------------------------------------------------


@router.get("/metadefs/namespaces")
@accepts(query=schemas.LIST_NAMESPACES_QUERY)
async def list_namespaces(request: Request) -> JSONResponse:
    found, more = await metadefs.list_namespaces(runtime(request), context(request),
                                                 request.state.query)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body = {"namespaces": [_namespace(n) for n in found],
            "first": "/v2/metadefs/namespaces" + (f"?{urlencode(kept)}" if kept else ""),
            "schema": "/v2/schemas/metadefs/namespaces"}
    if more:
        body["next"] = ("/v2/metadefs/namespaces?"
                        + urlencode([*kept, ("marker", found[-1].row.namespace)]))
    return JSONResponse(body)


@router.post("/metadefs/namespaces", status_code=201)
@accepts(body=schemas.NAMESPACE)
async def create_namespace(request: Request) -> JSONResponse:
    ns = await metadefs.create_namespace(runtime(request), context(request), request.state.body)
    return JSONResponse(_namespace(ns), status_code=201)


@router.get(NS)
@accepts()
async def show_namespace(namespace: str, request: Request) -> JSONResponse:
    return JSONResponse(_namespace(await metadefs.get_namespace(
        runtime(request), context(request), namespace)))


@router.put(NS)
@accepts(body=schemas.NAMESPACE)
async def update_namespace(namespace: str, request: Request) -> JSONResponse:
    return JSONResponse(_namespace(await metadefs.update_namespace(
        runtime(request), context(request), namespace, request.state.body)))


@router.delete(NS, status_code=204)
@accepts()
async def delete_namespace(namespace: str, request: Request) -> Response:
    await metadefs.delete_namespace(runtime(request), context(request), namespace)
    return Response(status_code=204)


# --- objects, properties, tags, resource-type associations ------------------------


KINDS = {"objects": "object", "properties": "property", "tags": "tag",
         "resource_types": "resource_type"}


def _kind(request: Request, depth: int) -> str:
    """The kind a path names: its segment ``depth`` from the end (1: a collection)."""
    return KINDS[request.url.path.rstrip("/").split("/")[-depth]]


async def _list(request: Request, namespace: str) -> list[dict[str, Any]]:
    row, items = await metadefs.list_items(runtime(request), context(request), namespace,
                                           _kind(request, 1))
    return [_item(row.namespace, i) for i in items]


@router.get(NS + "/objects")
@accepts()
async def list_objects(namespace: str, request: Request) -> JSONResponse:
    return JSONResponse({"objects": await _list(request, namespace),
                         "schema": "v2/schemas/metadefs/objects"})


@router.get(NS + "/properties")
@accepts()
async def list_properties(namespace: str, request: Request) -> JSONResponse:
    found = await _list(request, namespace)
    return JSONResponse({"properties": {p.pop("name"): p for p in found}})


@router.get(NS + "/tags")
@accepts()
async def list_tags(namespace: str, request: Request) -> JSONResponse:
    return JSONResponse({"tags": await _list(request, namespace)})


@router.get(NS + "/resource_types")
@accepts()
async def list_associations(namespace: str, request: Request) -> JSONResponse:
    return JSONResponse({"resource_type_associations": await _list(request, namespace)})


async def _create(request: Request, namespace: str, kind: str,
                  body: dict[str, Any]) -> JSONResponse:
    row, items = await metadefs.create_items(runtime(request), context(request), namespace,
                                             kind, [body])
    return JSONResponse(_item(row.namespace, items[0]), status_code=201)


@router.post(NS + "/objects", status_code=201)
@accepts(body=schemas.OBJECT)
async def create_object(namespace: str, request: Request) -> JSONResponse:
    return await _create(request, namespace, "object", request.state.body)


@router.post(NS + "/properties", status_code=201)
@accepts(body=schemas.PROPERTY)
async def create_property(namespace: str, request: Request) -> JSONResponse:
    return await _create(request, namespace, "property", request.state.body)


@router.post(NS + "/resource_types", status_code=201)
@accepts(body=schemas.RESOURCE_TYPE)
async def create_association(namespace: str, request: Request) -> JSONResponse:
    return await _create(request, namespace, "resource_type", request.state.body)


@router.post(NS + "/tags/{name}", status_code=201)
@accepts()
async def create_tag(namespace: str, name: str, request: Request) -> JSONResponse:
    return await _create(request, namespace, "tag", {"name": name})


@router.post(NS + "/tags", status_code=201)
@accepts(body=schemas.TAGS)
async def create_tags(namespace: str, request: Request) -> JSONResponse:
    """Glance's POST /tags: these tags, instead of all there were."""
    row, items = await metadefs.create_items(runtime(request), context(request), namespace,
                                             "tag", request.state.body["tags"], replace=True)
    return JSONResponse({"tags": [_item(row.namespace, i) for i in items]}, status_code=201)


@router.get(NS + "/objects/{name}")
@router.get(NS + "/properties/{name}")
@router.get(NS + "/tags/{name}")
@accepts()
async def show_item(namespace: str, name: str, request: Request) -> JSONResponse:
    row, item = await metadefs.get_item(runtime(request), context(request), namespace,
                                        _kind(request, 2), name)
    return JSONResponse(_item(row.namespace, item))


async def _update(request: Request, namespace: str, name: str) -> JSONResponse:
    row, item = await metadefs.update_item(runtime(request), context(request), namespace,
                                           _kind(request, 2), name, request.state.body)
    return JSONResponse(_item(row.namespace, item))


@router.put(NS + "/objects/{name}")
@accepts(body=schemas.OBJECT)
async def update_object(namespace: str, name: str, request: Request) -> JSONResponse:
    return await _update(request, namespace, name)


@router.put(NS + "/properties/{name}")
@accepts(body=schemas.PROPERTY)
async def update_property(namespace: str, name: str, request: Request) -> JSONResponse:
    return await _update(request, namespace, name)


@router.put(NS + "/tags/{name}")
@accepts(body=schemas.TAG)
async def update_tag(namespace: str, name: str, request: Request) -> JSONResponse:
    return await _update(request, namespace, name)


@router.delete(NS + "/objects/{name}", status_code=204)
@router.delete(NS + "/properties/{name}", status_code=204)
@router.delete(NS + "/tags/{name}", status_code=204)
@router.delete(NS + "/resource_types/{name}", status_code=204)
@accepts()
async def delete_item(namespace: str, name: str, request: Request) -> Response:
    await metadefs.delete_items(runtime(request), context(request), namespace,
                                _kind(request, 2), name)
    return Response(status_code=204)


@router.delete(NS + "/tags", status_code=204)
@accepts()
async def delete_tags(namespace: str, request: Request) -> Response:
    await metadefs.delete_items(runtime(request), context(request), namespace, "tag")
    return Response(status_code=204)


@router.get("/metadefs/resource_types")
@accepts()
async def list_resource_types(request: Request) -> JSONResponse:
    names = await metadefs.resource_types(runtime(request), context(request))
    return JSONResponse({"resource_types": [{"name": n} for n in names]})


# --- schemas ----------------------------------------------------------------------


@router.get("/schemas/metadefs/{name}")
@accepts()
async def schema(name: str, request: Request) -> JSONResponse:
    document = schemas.documents().get(name)
    if document is None:
        raise NotFound("The resource could not be found.")
    return JSONResponse(document)
