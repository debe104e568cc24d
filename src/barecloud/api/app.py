"""The ASGI application: every API on one port, devstack-style paths."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from barecloud.api import consoles, docs, ops, ui
from barecloud.api.admission import Turns
from barecloud.api.auth import Authenticate, challenge, error_for
from barecloud.api.baremetal import (
    agent,
    allocations,
    batches,
    chassis,
    drivers,
    node_parts,
    nodes,
    portgroups,
    ports,
    root,
    step_sets,
    vifs,
    volumes,
)
from barecloud.api.baremetal.errors import error_response as ironic_error
from barecloud.api.baremetal.microversion import IronicVersions
from barecloud.api.boot import images as boot_images
from barecloud.api.boot import scripts as boot_scripts
from barecloud.api.common import JSONResponse, new_request_id, provisioning_only, runtime
from barecloud.api.compute import routes as compute_routes
from barecloud.api.compute.microversion import NovaVersions
from barecloud.api.identity.routes import ROUTERS as IDENTITY_ROUTERS
from barecloud.api.image import actions as image_actions
from barecloud.api.image import cache as image_cache
from barecloud.api.image import data as image_data
from barecloud.api.image import images as image_images
from barecloud.api.image import info as image_info
from barecloud.api.image import members as image_members
from barecloud.api.image import metadefs as image_metadefs
from barecloud.api.image import root as image_root
from barecloud.api.image import schemas as image_schemas
from barecloud.api.image import tasks as image_tasks
from barecloud.api.limits import BodyLimits
from barecloud.api.network import routes as network_routes
from barecloud.api.request_metrics import RequestMetrics
from barecloud.api.reservation import routes as reservation_routes
from barecloud.errors import BarecloudError
from barecloud.services.context import Runtime

log = logging.getLogger(__name__)


def _error(request: Request, status: int, message: str) -> JSONResponse:
    """The error body of whichever OpenStack service the path belongs to."""
    response = error_for(request.url.path)(status, message)
    if status == 401:
        response.headers["WWW-Authenticate"] = challenge(runtime(request).settings)
    return response


class RequestIds:
    """ASGI middleware: a request id on every request and response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        ids = [(b"openstack-request-id", rid.encode()), (b"x-openstack-request-id", rid.encode())]
        if scope.get("path", "").startswith("/compute"):
            # Nova's own name for it, which its clients (tempest's) read.
            ids.append((b"x-compute-request-id", rid.encode()))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *ids]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(rt: Runtime) -> FastAPI:
    # /docs is ours (api/docs.py): FastAPI's loads Swagger UI from a CDN.
    app = FastAPI(title="barecloud", version="0.1.0", docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    app.state.runtime = rt
    # Compute first: routes are tried in order, and a request's match walks every
    # route before its own (FastAPI's included routers): the host agents' reports
    # and long-polls and the servers' requests are most of a VM storm's requests,
    # and walking the ~110 Bare Metal and Identity routes first was a tenth of its
    # CPU. The services' paths are disjoint (each under its own prefix), so
    # the order changes no match.
    compute_routes.install(app)
    app.include_router(ops.router)
    app.include_router(docs.router)
    for module in (root, node_parts, nodes, vifs, ports, portgroups, drivers, chassis,
                   step_sets, volumes, allocations, batches):
        app.include_router(module.router)
    # What machines call: on the provisioning address only, when one is set.
    provisioning = [Depends(provisioning_only)]
    app.include_router(agent.router, dependencies=provisioning)
    for router in IDENTITY_ROUTERS:
        app.include_router(router)
    app.include_router(consoles.router)  # the websocket a console URL opens
    ui.install(app)  # noVNC's page and modules, under /ui/
    network_routes.install(app, error_for)
    reservation_routes.install(app)
    app.include_router(boot_scripts.router, dependencies=provisioning)
    app.include_router(boot_images.router, dependencies=provisioning)
    # The image root last: it answers every /image path no other route takes.
    for module in (image_images, image_data, image_actions, image_info, image_members,
                   image_schemas, image_metadefs, image_tasks, image_cache, image_root):
        app.include_router(module.router)

    @app.exception_handler(BarecloudError)
    async def _known(request: Request, exc: BarecloudError) -> JSONResponse:
        if exc.code >= 500:
            log.error("request %s failed: %s", request.url.path, exc.message)
        return _error(request, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "The resource could not be found." if exc.status_code == 404 else str(
            exc.detail)
        return _error(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Each problem's place and reason, not pydantic's copy of the input.
        problems = "; ".join(f"{'.'.join(str(p) for p in err.get('loc', ()))}: "
                             f"{err.get('msg', 'invalid')}" for err in exc.errors())
        return _error(request, 400, f"Invalid request: {problems}")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(request, 500, "Internal Server Error: the error was logged.")

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"name": "barecloud", "services": {
            "baremetal": f"{base}/baremetal",
            "identity": f"{base}/identity",
            "compute": f"{base}/compute",
            "image": f"{base}/image",
            "network": f"{base}/network",
            "reservation": f"{base}/reservation",
        }})

    app.add_middleware(IronicVersions, error_response=ironic_error)
    app.add_middleware(NovaVersions)
    app.add_middleware(Authenticate, rt=rt)  # inside RequestIds: 401s carry request ids
    app.add_middleware(BodyLimits, settings=rt.settings)  # before a token is looked at
    app.add_middleware(RequestIds)
    app.add_middleware(Turns, rt=rt)  # before any work: a turn waited for is latency
    app.add_middleware(RequestMetrics)  # outermost: the latency a client sees
    return app
