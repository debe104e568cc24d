"""/v3/auth: issue, validate and revoke tokens; what a token may be scoped to."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.errors import Forbidden
from barecloud.services import policy
from barecloud.services.identity import (
    assignments,
    authenticate,
    catalog_store,
    projects,
    schemas,
)
from barecloud.services.identity.catalog_store import EndpointView, ServiceView
from barecloud.services.identity.subjects import Ref
from barecloud.services.identity.tokens import tokens_of

router = inputs.router(prefix="/identity/v3/auth")


async def _catalog(request: Request, user_id: str, project: Ref | None,
                   ) -> list[tuple[ServiceView, list[EndpointView]]] | None:
    """The token's catalog, or None if ``?nocatalog``."""
    if "nocatalog" in request.state.query:
        return None
    return await catalog_store.for_token(runtime(request), user_id,
                                         project.id if project is not None else None)


@router.post("/tokens", status_code=201)
@accepts(body=schemas.ISSUE_TOKEN, query=schemas.TOKEN_QUERY)
async def issue(request: Request) -> JSONResponse:
    rt = runtime(request)
    source = request.client.host if request.client else None
    issued = await authenticate.issue(rt, request.state.body, source)
    body = render.token(issued.token, issued.subject, await _catalog(
        request, issued.subject.user.id, issued.subject.project))
    return JSONResponse(body, status_code=201, headers={"X-Subject-Token": issued.token_id})


@router.api_route("/tokens", methods=["GET", "HEAD"])
@accepts(query=schemas.TOKEN_QUERY)
async def validate(request: Request) -> JSONResponse:
    rt = runtime(request)
    subject_token = request.headers.get("x-subject-token")
    token, subject = await tokens_of(rt).validate_subject(subject_token)
    policy.authorize(context(request), "identity:validate_token",
                     {"token.user_id": token.user_id})
    body = render.token(token, subject, await _catalog(request, subject.user.id,
                                                       subject.project))
    return JSONResponse(body, headers={"X-Subject-Token": subject_token or ""})


@router.delete("/tokens", status_code=204)
@accepts(query=schemas.REVOKE_TOKEN_QUERY)
async def revoke(request: Request) -> Response:
    tokens = tokens_of(runtime(request))
    token, _ = await tokens.validate_subject(request.headers.get("x-subject-token"))
    policy.authorize(context(request), "identity:revoke_token",
                     {"token.user_id": token.user_id})
    # Keystone revokes the token alone; ?cascade=true (barecloud's) its chain too.
    await tokens.revoke(token, chain=params.flag(request, "cascade") is True)
    return Response(status_code=204)


@router.get("/catalog")
@accepts()
async def auth_catalog(request: Request) -> JSONResponse:
    ctx = context(request)
    policy.authorize(ctx, "identity:get_auth_catalog")
    if ctx.project is None:
        raise Forbidden("A project-scoped token is required to produce a service catalog.")
    entries = await catalog_store.for_token(runtime(request), ctx.user or "", ctx.project)
    return JSONResponse({"catalog": render.catalog_entries(entries),
                         "links": {"self": params.self_url(request)}})


@router.get("/projects")
@accepts()
async def auth_projects(request: Request) -> JSONResponse:
    ctx = context(request)
    policy.authorize(ctx, "identity:get_auth_projects")
    found = [] if ctx.user is None else await projects.of_user(
        runtime(request), ctx, ctx.user, enabled_only=True)
    v3 = params.v3(request)
    return JSONResponse(render.collection("projects", [render.project(p, v3) for p in found],
                                          params.self_url(request)))


@router.get("/domains")
@accepts()
async def auth_domains(request: Request) -> JSONResponse:
    ctx = context(request)
    policy.authorize(ctx, "identity:get_auth_domains")
    found = await assignments.domains_of(runtime(request), ctx.user)
    v3 = params.v3(request)
    return JSONResponse(render.collection("domains", [render.domain(d, v3) for d in found],
                                          params.self_url(request)))


@router.get("/system")
@accepts()
async def auth_system(request: Request) -> JSONResponse:
    ctx = context(request)
    policy.authorize(ctx, "identity:get_auth_system")
    allowed = await assignments.has_system_role(runtime(request), ctx.user)
    return JSONResponse({"system": [{"all": True}] if allowed else [],
                         "links": {"self": params.self_url(request)}})
