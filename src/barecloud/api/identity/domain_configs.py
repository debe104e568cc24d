"""/v3/domains/{id}/config and /v3/domains/config/default (Keystone's domain-specific
configuration, stored and served, acted on by no one)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import domain_configs, schemas

router = inputs.router(prefix="/identity/v3/domains")


@router.get("/config/default")
@accepts()
async def show_defaults(request: Request) -> JSONResponse:
    return JSONResponse({"config": domain_configs.defaults(context(request))})


@router.get("/config/{group}/default")
@accepts()
async def show_group_defaults(group: str, request: Request) -> JSONResponse:
    return JSONResponse({"config": domain_configs.defaults(context(request), group)})


@router.get("/config/{group}/{option}/default")
@accepts()
async def show_option_default(group: str, option: str, request: Request) -> JSONResponse:
    return JSONResponse({"config": domain_configs.defaults(context(request), group, option)})


@router.put("/{domain_id}/config", status_code=201)
@accepts(body=schemas.DOMAIN_CONFIG)
async def put_config(domain_id: str, request: Request) -> JSONResponse:
    config, created = await domain_configs.replace(runtime(request), context(request),
                                                   domain_id, request.state.body)
    return JSONResponse({"config": config}, status_code=201 if created else 200)


@router.get("/{domain_id}/config")
@accepts()
async def show_config(domain_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"config": await domain_configs.get(
        runtime(request), context(request), domain_id)})


@router.get("/{domain_id}/config/{group}")
@accepts()
async def show_group(domain_id: str, group: str, request: Request) -> JSONResponse:
    return JSONResponse({"config": await domain_configs.get(
        runtime(request), context(request), domain_id, group)})


@router.get("/{domain_id}/config/{group}/{option}")
@accepts()
async def show_option(domain_id: str, group: str, option: str,
                      request: Request) -> JSONResponse:
    return JSONResponse({"config": await domain_configs.get(
        runtime(request), context(request), domain_id, group, option)})


@router.patch("/{domain_id}/config")
@accepts(body=schemas.DOMAIN_CONFIG)
async def update_config(domain_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"config": await domain_configs.update(
        runtime(request), context(request), domain_id, request.state.body)})


@router.patch("/{domain_id}/config/{group}")
@accepts(body=schemas.DOMAIN_CONFIG)
async def update_group(domain_id: str, group: str, request: Request) -> JSONResponse:
    return JSONResponse({"config": await domain_configs.update(
        runtime(request), context(request), domain_id, request.state.body, group)})


@router.patch("/{domain_id}/config/{group}/{option}")
@accepts(body=schemas.DOMAIN_CONFIG)
async def update_option(domain_id: str, group: str, option: str,
                        request: Request) -> JSONResponse:
    return JSONResponse({"config": await domain_configs.update(
        runtime(request), context(request), domain_id, request.state.body, group, option)})


@router.delete("/{domain_id}/config", status_code=204)
@accepts()
async def delete_config(domain_id: str, request: Request) -> Response:
    await domain_configs.remove(runtime(request), context(request), domain_id)
    return Response(status_code=204)


@router.delete("/{domain_id}/config/{group}", status_code=204)
@accepts()
async def delete_group(domain_id: str, group: str, request: Request) -> Response:
    await domain_configs.remove(runtime(request), context(request), domain_id, group)
    return Response(status_code=204)


@router.delete("/{domain_id}/config/{group}/{option}", status_code=204)
@accepts()
async def delete_option(domain_id: str, group: str, option: str, request: Request) -> Response:
    await domain_configs.remove(runtime(request), context(request), domain_id, group, option)
    return Response(status_code=204)
