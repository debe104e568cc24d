"""A server's security groups, and Nova's security-group proxies (2.1 to 2.35).

``/servers/{id}/os-security-groups`` is served at every version; the proxies
(``/os-security-groups``, ``/os-security-group-rules``) answer 404 from 2.36,
as Nova's, before their input is read.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts, request_of
from barecloud.errors import NotFound
from barecloud.services.compute import nova_security_groups as groups
from barecloud.services.compute import schemas

router = declared.router()
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def proxy(handler: F) -> F:
    """Not there from 2.36 (Nova's MAX_PROXY_API_SUPPORT_VERSION is 2.35)."""

    @functools.wraps(handler)
    async def gated(*args: Any, **kwargs: Any) -> Any:
        groups.proxied(params.version(request_of(args, kwargs)))
        return await handler(*args, **kwargs)

    return gated  # type: ignore[return-value]


def _body(request: Request, key: str = "security_group") -> dict[str, Any]:
    """The declared body's one key (``@accepts`` checked it)."""
    inner: dict[str, Any] = request.state.body[key]
    return inner


async def _accepted(done: Awaitable[None]) -> Response:
    """A proxy's delete: Nova's 202, no body."""
    await done
    return Response(status_code=202)


@router.get("/servers/{server_id}/os-security-groups")
@accepts()
async def server_security_groups(server_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"security_groups": await groups.of_server(
        runtime(request), context(request), server_id)})


@router.get("/os-security-groups")
@proxy
@accepts(query=schemas.LIST_SECURITY_GROUPS_QUERY)
async def list_security_groups(request: Request) -> JSONResponse:
    q = params.query(request)
    found = await groups.list_groups(runtime(request), context(request), "all_tenants" in q,
                                     q.get("limit"), q.get("offset") or 0)
    return JSONResponse({"security_groups": found})


@router.post("/os-security-groups")
@proxy
@accepts(body=schemas.SECURITY_GROUP)
async def create_security_group(request: Request) -> JSONResponse:
    made = await groups.create(runtime(request), context(request), _body(request))
    return JSONResponse({"security_group": made})


@router.get("/os-security-groups/{group_id}")
@proxy
@accepts()
async def show_security_group(group_id: str, request: Request) -> JSONResponse:
    found = await groups.show(runtime(request), context(request), group_id)
    return JSONResponse({"security_group": found})


@router.put("/os-security-groups/{group_id}")
@proxy
@accepts(body=schemas.SECURITY_GROUP)
async def update_security_group(group_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"security_group": await groups.update(
        runtime(request), context(request), group_id, _body(request))})


@router.delete("/os-security-groups")
@proxy
@accepts()
async def delete_without_id(request: Request) -> Response:
    """No group named: Nova's router finds no such route (404)."""
    raise NotFound("The resource could not be found.")


@router.delete("/os-security-groups/{group_id}", status_code=202)
@proxy
@accepts()
async def delete_security_group(group_id: str, request: Request) -> Response:
    return await _accepted(groups.delete(runtime(request), context(request), group_id))


@router.post("/os-security-group-rules")
@proxy
@accepts(body=schemas.SECURITY_GROUP_RULE)
async def create_security_group_rule(request: Request) -> JSONResponse:
    made = await groups.create_rule(runtime(request), context(request),
                                    _body(request, "security_group_rule"))
    return JSONResponse({"security_group_rule": made})


@router.delete("/os-security-group-rules/{rule_id}", status_code=202)
@proxy
@accepts()
async def delete_security_group_rule(rule_id: str, request: Request) -> Response:
    return await _accepted(groups.delete_rule(runtime(request), context(request), rule_id))
